// Real-kernel test harness: boots Debian's 6.1 or 6.12 kernel under QEMU (TCG, never KVM) with
// the host's root as the guest's root (9p, read-only, tmpfs overlay on top), an emulated
// NVDIMM on a memory-only NUMA node (or CXL type-3 memory on a q35 machine), optionally the
// kernel's nfit_test emulator and optionally systemd as PID 1, runs a shell script as root in
// it and reports back.
// API documented in test/kernel/README.md.
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {TestFn} from 'ava';
import {ensureKernelLab, ensureRootImage, guestSeries, kernelTestDir, probeKernelLab, type GuestRoot, type KernelLab, type KernelSeries} from './lab';
import {tail} from './util';
import {acquireSlot, estimateFor} from './scheduler';
import {guestControl, type GuestControl} from './qmp';

export type {GuestControl} from './qmp';

export {ensureKernelLab, guestSeries, probeKernelLab, repoRoot, findGuestKernel, KERNEL_SERIES, GUEST_ROOTS, type GuestRoot, type KernelLab, type KernelSeries, type LabProbe} from './lab';
export {NFIT_INSMOD_ORDER} from './nfit';

/** A host file or directory copied into the guest's overlay root (systemd mode) before boot. */
export interface InstallFile {
  /** Host path (absolute, or relative to the repo root). */
  src: string;
  /** Absolute path in the guest. Ending in "/" means "into this directory". */
  dest: string;
}

export interface HmatOptions {
  /** Access bandwidth, MB/s: [node 0, node 1]. */
  bandwidthMBps: [number, number];
  /** Access latency, ns: [node 0, node 1]. */
  latencyNs: [number, number];
}

/** CXL: a q35 machine with one CXL host bridge and type-3 volatile memory devices behind it. */
export interface CxlOptions {
  /**
   * Type-3 devices, each on its own root port of the one host bridge (2: a region can interleave
   * them; 4: two such regions), with serial numbers 0x1000 + I for QEMU's cxl-vmemI.
   */
  memdevs: 1 | 2 | 3 | 4;
  /**
   * Volatile capacity of each device, MiB (default 512: four memory blocks each). QEMU emulates
   * every load and store to type-3 memory, so a region's online, offline and zeroing cost guest
   * time in proportion to its size (zeroing runs at 23 MB/s under TCG); a 2-way region of 1 GiB
   * shows interleave, splits and block accounting as well as one of 2 GiB.
   */
  sizeMiB?: number;
  /** Size of the fixed memory window, GiB (default 4). */
  windowGiB?: number;
}

export interface GuestOptions {
  /** sh script run as root in the guest, cwd = `cwd` (default: the repo root). */
  script: string;
  /** Guest kernel series (default: DAXRAM_GUEST_KERNEL, else 6.1). */
  kernel?: KernelSeries;
  /**
   * The guest's root: 'bookworm' (default), the build host's own root over 9p, so node, the
   * checkout and its node_modules are there at their host paths; or 'trixie', the Debian 13
   * root image (Debian's nodejs, ndctl/daxctl/cxl 81) with the checkout and /tmp laid over it.
   */
  root?: GuestRoot;
  /** CXL memory expanders (q35, QEMU >= 9, the 6.12 kernel). No NVDIMM unless asked. */
  cxl?: CxlOptions;
  /**
   * An ACPI HMAT (`-machine hmat=on`): node 0's CPUs are the initiator of both nodes, with these
   * access bandwidths (MB/s) and latencies (ns), node 1 (the NVDIMM's) slower. The kernel shows
   * them in nodeN/access0/initiators once the node has memory online.
   */
  hmat?: HmatOptions;
  /** Working directory of the script in the guest (same paths as on the host). Default: repo root. */
  cwd?: string;
  /** Load the nfit_test chain (nfit_test.0 / nfit_test.1 buses with ARS and clear-error). */
  nfitTest?: boolean;
  /**
   * The QEMU NVDIMM (2 GiB, label-size 128K, on memory-only node 1, at 8 GiB physical).
   * Default true. `false`: no NVDIMM at all.
   */
  nvdimm?: boolean;
  /**
   * Initialise the NVDIMM's labels (ndctl disable-region / init-labels -f / enable-region on
   * the ACPI.NFIT bus) before the script, so namespaces can be created. Default: true for a
   * fresh image, false when `image` points at an existing file. `false` leaves it label-less
   * (one raw namespace).
   */
  labels?: boolean;
  /**
   * Backing file of the NVDIMM, reused across boots (reboot tests). Created (sparse, 2 GiB)
   * if missing; then its labels are initialised unless `labels: false`. Default: a fresh
   * temporary image per run, deleted afterwards.
   */
  image?: string;
  /**
   * Make the NVDIMM 128 KiB larger, so that after QEMU carves the label area off its end the
   * region is exactly 2 GiB: 16 whole memory blocks, like a real platform's interleave set.
   * Default false (the long-standing 2 GiB device, whose region ends 128 KiB short of a block).
   */
  blockAlignedRegion?: boolean;
  /**
   * The NVDIMM's size in GiB (default 2), for the scale bench. The file is sparse: only what the
   * guest writes (labels, info blocks, struct pages on the device) takes host disk.
   */
  nvdimmGiB?: number;
  /** Boot with systemd as PID 1; the script runs as daxram-harness.service after multi-user.target. */
  systemd?: boolean;
  /**
   * A reset (sysrq b, a reboot) restarts the guest in the same QEMU process instead of ending
   * it: guest RAM is kept, as on a warm reset. The script runs again after each boot (it tells
   * the boots apart by files it leaves in $HARNESS_OUT); only a run that exits reports a status.
   */
  warmReset?: boolean;
  /**
   * systemd with warmReset: the first boot runs the script without systemd (as in script mode:
   * no pre script, no package, no daemon; HARNESS_MODPROBE loads the drivers), the boots after
   * its reset under systemd. For a first boot that only prepares what the next one checks: a
   * systemd boot with the package costs a minute of TCG time.
   */
  firstBootScript?: boolean;
  /** systemd mode: host files to copy into the overlay before systemd starts. */
  install?: InstallFile[];
  /** systemd mode: units to `systemctl enable` before systemd starts (e.g. 'daxramd.service'). */
  enable?: string[];
  /**
   * systemd mode: units to mask. Default DEFAULT_MASKED_UNITS (host services that only slow
   * the boot or fail in the lab: postgresql, e2scrub, ndctl-monitor, apt/man-db timers...).
   */
  mask?: string[];
  /** systemd mode: sh script run as root (cwd = `cwd`) in the overlay root before systemd starts. */
  preScript?: string;
  /**
   * systemd mode: wait for `systemctl is-system-running --wait` (at most 120 s) before the
   * script. Default true.
   */
  waitForBoot?: boolean;
  /**
   * Script mode: start systemd-udevd and coldplug (udevadm trigger/settle) before the
   * script. Default false: the modules udev would load for the NVDIMM stack are modprobed.
   */
  udev?: boolean;
  /** Script mode: modules to modprobe before the script (default nfit nd_pmem nd_btt dax_pmem device_dax). */
  modprobe?: string[];
  /** Extra kernel command-line arguments. */
  kernelArgs?: string[];
  /** vCPUs (default 1), all on node 0. */
  smp?: number;
  /** Kills the guest and rejects after this long. Default 180 s (script) / 420 s (systemd). */
  timeoutMs?: number;
  /** Use this directory as the results share (created; must be empty or absent). Default: a temp dir. */
  outDir?: string;
  /** Keep the results share after success too (it is always kept after a failure). */
  keepOutDir?: boolean;
  /**
   * With outDir: a results share a previous guest left (files it kept for the next boot, as a
   * disk keeps them across a power cycle). Without it a non-empty outDir is an error.
   */
  reuseOutDir?: boolean;
  /** Names this guest in the scheduler's reports (default: the test file and line that asked for it). */
  label?: string;
  /** Called with every chunk of serial console output (also: env DAXRAM_GUEST_VERBOSE=1 streams it to stderr). */
  onConsole?: (chunk: string) => void;
  /**
   * Host-side actions while the guest runs (QEMU's QMP socket is opened for them): e.g. wait for
   * the guest to signal through $HARNESS_OUT, then hot-add a DIMM. A rejection fails the run.
   */
  host?: (g: GuestControl) => Promise<void>;
}

export interface GuestResult {
  /** Exit status of the guest script (from the results share, not from the console). */
  status: number;
  stdout: string;
  stderr: string;
  /** The whole serial console log. */
  console: string;
  /** The results share on the host (the guest's /harness, also $HARNESS_OUT in the script). */
  outDir: string;
  /** Wall time from spawning QEMU to its exit. */
  durationMs: number;
  /** Text of a file the script wrote into $HARNESS_OUT. */
  readFile(name: string): string;
  /** JSON.parse of a file the script wrote into $HARNESS_OUT. */
  readJson<T = unknown>(name: string): T;
  /** Remove the results share now (otherwise removed at process exit unless keepOutDir). */
  cleanup(): void;
}

/** Raised when the guest does not come up, the setup or the script never reports, or on timeout. */
export class GuestError extends Error {
  constructor(
    message: string,
    readonly console: string,
    readonly outDir: string,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'GuestError';
  }
}

const NVDIMM_SIZE = 2 * 1024 ** 3;
const LABEL_SIZE = 128 * 1024;
const SETPRIV = '/usr/bin/setpriv';
const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Units masked in systemd guests unless `mask` says otherwise. */
export const DEFAULT_MASKED_UNITS = [
  'postgresql.service', 'postgresql@.service', 'e2scrub_reap.service', 'e2scrub_all.timer',
  'ndctl-monitor.service', 'apt-daily.timer', 'apt-daily-upgrade.timer', 'man-db.timer',
  'dpkg-db-backup.timer', 'fstrim.timer', 'systemd-timesyncd.service', 'apparmor.service',
  // The roots are images made once: their caches are current, but every boot's fresh overlay
  // makes ConditionNeedsUpdate= true, so Debian 13 would rebuild them each boot (about 8 s of
  // a 37 s TCG boot: ldconfig 5.3 s). getty-static starts gettys nobody logs in on.
  'ldconfig.service', 'systemd-update-done.service', 'systemd-journal-catalog-update.service',
  'systemd-hwdb-update.service', 'getty-static.service',
  // Modules and device nodes for graphics, pstore and FUSE, which no guest uses; each is a
  // fork and exec competing for the one TCG vCPU while the boot runs.
  'modprobe@drm.service', 'modprobe@efi_pstore.service', 'modprobe@fuse.service',
  'sys-fs-fuse-connections.mount', 'kmod-static-nodes.service',
];
const DEFAULT_MODPROBE = ['nfit', 'nd_pmem', 'nd_btt', 'dax_pmem', 'device_dax'];
/** What udev would load for memmap= pmem (nd_e820) and soft-reserved ranges (dax_hmem). */
const MEMMAP_MODPROBE = ['nd_e820', 'dax_hmem'];
/** Serial numbers the lab's CXL devices carry: mem0 0x1000, mem1 0x1001 (QEMU's default is 0). */
export const CXL_SERIAL_BASE = 0x1000;

/** What udev would load for a CXL topology, in the lab note's order. */
export const CXL_MODPROBE = ['cxl_acpi', 'cxl_pci', 'cxl_mem', 'cxl_port', 'dax_cxl', 'device_dax'];

/** Kernel arguments for the other memory kinds, inside the guest's 2 GiB of RAM. */
export const E820_PMEM_ARG = 'memmap=256M!1G';
export const HMEM_RANGE_ARG = 'memmap=256M%1280M+0xefffffff';

/** What udev's coldplug would load for this machine (script mode has no udev). */
function defaultModprobe(o: GuestOptions): string[] {
  const mods = o.cxl ? [...CXL_MODPROBE] : [...DEFAULT_MODPROBE];
  if (o.cxl && o.nvdimm) mods.push(...DEFAULT_MODPROBE);
  if ((o.kernelArgs ?? []).some((a) => a.startsWith('memmap='))) mods.push(...MEMMAP_MODPROBE);
  return [...new Set(mods)];
}

/** The fewest host directories that cover `paths` (a path inside another is covered by it). */
function hostPaths(paths: string[]): string[] {
  const abs = [...new Set(paths.map((p) => path.resolve(p)))].sort();
  return abs.filter((p) => !abs.some((q) => q !== p && (p + '/').startsWith(q === '/' ? '/' : q + '/')));
}

/** POSIX sh single-quoting (for the guest-side config file only). */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const pendingCleanup = new Set<string>();
let exitHookInstalled = false;
function removeAtExit(dir: string): void {
  pendingCleanup.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const d of pendingCleanup) fs.rmSync(d, {recursive: true, force: true});
    });
  }
}

function readIf(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}


/**
 * The test file (and line) that asked for a guest: the scheduler ranks work by file, and
 * reports name the line.
 */
function callSite(): {file: string; label: string} {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  const at = (re: RegExp) => frames.map((f) => /\(?([^\s(]+):(\d+):\d+\)?$/.exec(f.trim())).find((m) => m && re.test(m[1]));
  const m = at(/\.test\.[jt]s$/) ?? at(/^\/(?!.*\/(harness|scheduler)\.[jt]s$)/);
  if (!m) return {file: 'unknown', label: 'unknown'};
  const file = path.basename(m[1]).replace(/\.[jt]s$/, '');
  return {file, label: `${file}:${m[2]}`};
}

/** Throws (with status, stdout/stderr tails) unless the guest script exited 0; returns r. */
export function expectSuccess(r: GuestResult): GuestResult {
  if (r.status !== 0) {
    throw new Error(`guest script exited with status ${r.status}\n--- stdout (tail) ---\n${tail(r.stdout, 20)}\n--- stderr (tail) ---\n${tail(r.stderr, 20)}`);
  }
  return r;
}

interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
  timedOut: boolean;
  console: string;
  stderr: string;
}

/**
 * Runs QEMU (argv array, no shell) until it exits or timeoutMs passes (then SIGKILL). QEMU gets
 * a parent-death signal (setpriv --pdeathsig): when the thread or process that started it dies
 * (an ava worker killed by a timeout), the kernel kills QEMU too, instead of leaving a guest
 * that burns a CPU for nobody.
 */
function spawnQemu(argv: string[], timeoutMs: number, onConsole: (chunk: string) => void, onPid: (pid: number) => void): Promise<QemuExit> {
  return new Promise((resolve) => {
    const r: QemuExit = {code: null, signal: null, timedOut: false, console: '', stderr: ''};
    // setpriv execs QEMU in place: the pid is QEMU's.
    const child = spawn(SETPRIV, ['--pdeathsig', 'KILL', '--', ...argv], {stdio: ['ignore', 'pipe', 'pipe']});
    if (child.pid) onPid(child.pid);
    const kill = () => child.kill('SIGKILL');
    const killer = setTimeout(() => {
      r.timedOut = true;
      kill();
    }, timeoutMs);
    // Never leave a guest behind when this process goes away.
    process.once('exit', kill);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      r.console += d;
      onConsole(d);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      r.stderr += d;
    });
    child.on('error', (e) => {
      r.error = e;
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      process.removeListener('exit', kill);
      r.code = code;
      r.signal = signal;
      resolve(r);
    });
  });
}

/** Console lines that say what a guest is doing, for the scheduler's reports and timeouts. */
const PHASES: Array<[string, string]> = [
  ['switch_root to systemd', 'systemd booting'],
  ['Starting daxram-harness.service', 'script running (systemd)'],
  ['running the guest script', 'script running'],
  ['sysrq: Resetting', 'resetting'],
];

function phaseTracker(): {see(chunk: string): string | undefined; last(): string} {
  let tailText = '';
  let current = 'booting';
  return {
    see(chunk) {
      // Keep a little of the previous chunk: a marker may straddle two reads. systemd colours
      // unit names: drop the escape sequences.
      tailText = (tailText + chunk.replace(/\x1b\[[0-9;]*m/g, '')).slice(-4096);
      let found: string | undefined;
      let at = -1;
      for (const [marker, phase] of PHASES) {
        const i = tailText.lastIndexOf(marker);
        if (i > at) {
          at = i;
          found = phase;
        }
      }
      if (!found || found === current) return undefined;
      tailText = tailText.slice(at + 1);
      current = found;
      return found;
    },
    last: () => current,
  };
}

/** A value inside a QEMU option list: commas are doubled (no shell is involved). */
function qemuOptValue(v: string): string {
  return v.replace(/,/g, ',,');
}

/** The qemu argv for a guest (exported for debugging; spawned as an argv array, never via a shell). */
export function qemuArgv(lab: KernelLab, o: {
  outDir: string; image?: string; imageSize?: number; smp: number; append: string; cxl?: CxlOptions; warmReset?: boolean; qmp?: string; rootImage?: string; hmat?: HmatOptions;
}): string[] {
  const smp = o.smp;
  const cxl = o.cxl;
  const argv = [
    lab.qemu,
    // With the hypervisor bit set the kernel refuses to commit a CXL region ("Failed to
    // synchronize CPU cache state").
    '-accel', 'tcg,thread=multi', '-cpu', cxl ? 'max,hypervisor=off' : 'max',
    '-machine', `${cxl ? 'q35,cxl=on' : 'pc'},nvdimm=${o.image ? 'on' : 'off'}${o.hmat ? ',hmat=on' : ''}`,
    '-smp', String(smp),
    // Room for the boot RAM, the pad DIMM and the NVDIMM above them.
    '-m', `2G,slots=4,maxmem=${Math.max(16, 8 + Math.ceil((o.imageSize ?? NVDIMM_SIZE) / 1024 ** 3))}G`,
    '-object', 'memory-backend-ram,id=ram0,size=2G',
    '-numa', `node,nodeid=0,cpus=0-${smp - 1},memdev=ram0${o.hmat ? ',initiator=0' : ''}`,
  ];
  if (!cxl) {
    // 4 GiB pad first, so the NVDIMM lands at 8 GiB, outside nfit_test's made-up addresses.
    argv.push('-object', 'memory-backend-ram,id=pad,size=4G', '-device', 'pc-dimm,id=pad0,memdev=pad,node=0');
  }
  argv.push('-numa', `node,nodeid=1${o.hmat ? ',initiator=0' : ''}`);
  if (o.hmat) {
    for (const target of [0, 1]) {
      argv.push(
        '-numa', `hmat-lb,initiator=0,target=${target},hierarchy=memory,data-type=access-latency,latency=${o.hmat.latencyNs[target]}`,
        '-numa', `hmat-lb,initiator=0,target=${target},hierarchy=memory,data-type=access-bandwidth,bandwidth=${o.hmat.bandwidthMBps[target]}M`,
      );
    }
  }
  if (cxl) {
    // One host bridge (pxb-cxl) on pcie.0, a root port per type-3 device, one fixed memory
    // window targeting the host bridge (docs/kernel-lab.md).
    argv.push('-device', 'pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1');
    for (let i = 0; i < cxl.memdevs; i++) {
      argv.push(
        '-object', `memory-backend-ram,id=vmem${i},share=on,size=${cxl.sizeMiB ?? 512}M`,
        '-device', `cxl-rp,port=${i},bus=cxl.1,id=root_port${13 + i},chassis=0,slot=${2 + i}`,
        '-device', `cxl-type3,bus=root_port${13 + i},volatile-memdev=vmem${i},id=cxl-vmem${i},sn=${CXL_SERIAL_BASE + i}`,
      );
    }
    argv.push('-M', `cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=${cxl.windowGiB ?? 4}G`);
  }
  if (o.image) {
    argv.push(
      '-object', `memory-backend-file,id=nv1,share=on,mem-path=${qemuOptValue(o.image)},size=${o.imageSize ?? NVDIMM_SIZE}`,
      '-device', `nvdimm,id=nvdimm1,memdev=nv1,label-size=${LABEL_SIZE},node=1`,
    );
  }
  argv.push(
    '-kernel', (process.env.DAXRAM_GUEST_BZIMAGE !== '1' && lab.vmlinux) || lab.kernel,
    '-initrd', lab.initramfs,
    '-append', o.append,
  );
  if (cxl) {
    // On q35 with pxb-cxl a PCI device without a bus lands behind the CXL host bridge, which
    // refuses it: the 9p shares name pcie.0.
    argv.push(
      '-fsdev', 'local,id=fshost,path=/,security_model=none,readonly=on,multidevs=remap',
      '-device', 'virtio-9p-pci,fsdev=fshost,mount_tag=hostroot,bus=pcie.0',
      '-fsdev', `local,id=fsres,path=${qemuOptValue(o.outDir)},security_model=none,multidevs=remap`,
      '-device', 'virtio-9p-pci,fsdev=fsres,mount_tag=results,bus=pcie.0',
    );
  } else {
    argv.push(
      '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${qemuOptValue(o.outDir)},mount_tag=results,security_model=none,multidevs=remap`,
    );
  }
  if (o.rootImage) {
    // The first virtio disk (/dev/vda), read-only: the guest's root image.
    argv.push(
      '-drive', `file=${qemuOptValue(o.rootImage)},if=none,id=rootimg,format=raw,readonly=on`,
      '-device', `virtio-blk-pci,drive=rootimg${cxl ? ',bus=pcie.0' : ''}`,
    );
  }
  argv.push(
    '-nodefaults', '-display', 'none', '-vga', 'none',
    '-serial', 'stdio', '-monitor', 'none',
  );
  if (!o.warmReset) argv.push('-no-reboot');
  if (o.qmp) argv.push('-qmp', `unix:${qemuOptValue(o.qmp)},server=on,wait=off`);
  return argv;
}

/**
 * Boot a guest, run `opts.script` in it, and resolve with its status and output. Resolves
 * whatever the script's exit status (check `status`); rejects with a GuestError (message
 * includes the last 40 console lines) when the guest never reports a status: boot failure,
 * setup failure, crash, or timeout (QEMU is killed).
 */
export async function runGuest(opts: GuestOptions): Promise<GuestResult> {
  const lab = await ensureKernelLab(opts.kernel ?? guestSeries());
  if (opts.cxl && lab.series === '6.1') throw new Error('runGuest: CXL guests need kernel 6.3 or later (CXL RAM regions and dax_cxl auto-binding)');
  const rootImage = opts.root === 'trixie' ? await ensureRootImage() : undefined;
  const systemd = opts.systemd ?? false;
  const timeoutMs = opts.timeoutMs ?? (systemd ? 420_000 : 180_000);
  // One vCPU: two guests run at once on two host cores, and two 2-vCPU TCG guests side by side
  // ran a daxctl loop 7x and a whole script 2x slower than two 1-vCPU guests (vCPU threads
  // contending for the cores, and MTTCG's cross-vCPU synchronisation).
  const smp = opts.smp ?? 1;
  const cwd = opts.cwd ?? lab.repoRoot;
  if (typeof opts.script !== 'string') throw new TypeError('runGuest: script must be a string');
  if (!systemd && (opts.install?.length || opts.enable?.length || opts.preScript || opts.mask)) {
    throw new Error('runGuest: install, enable, mask and preScript need systemd: true');
  }
  if (!Number.isInteger(smp) || smp < 1 || smp > 16) throw new Error(`runGuest: bad smp ${smp}`);
  const installLines = (opts.install ?? []).map((f) => {
    const src = path.resolve(lab.repoRoot, f.src);
    if (!fs.existsSync(src)) throw new Error(`runGuest: install: ${src} does not exist`);
    if (!path.isAbsolute(f.dest)) throw new Error(`runGuest: install: dest must be absolute: ${f.dest}`);
    return `install_file ${shq(src)} ${shq(f.dest)}\n`;
  });

  let outDir: string;
  if (opts.outDir) {
    outDir = path.resolve(opts.outDir);
    fs.mkdirSync(outDir, {recursive: true});
    if (!opts.reuseOutDir && fs.readdirSync(outDir).length > 0) throw new Error(`outDir ${outDir} is not empty`);
    // A later boot of the same machine: only its own status counts.
    if (opts.reuseOutDir) fs.rmSync(path.join(outDir, 'status'), {force: true});
  } else {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-guest-'));
  }
  fs.chmodSync(outDir, 0o777);

  // NVDIMM backing file.
  let image: string | undefined;
  const imageSize = (opts.nvdimmGiB ? opts.nvdimmGiB * 1024 ** 3 : NVDIMM_SIZE) + (opts.blockAlignedRegion ? LABEL_SIZE : 0);
  let tempImage = false;
  let freshImage = false;
  if (opts.nvdimm ?? !opts.cxl) {
    if (opts.image) {
      image = path.resolve(opts.image);
      if (fs.existsSync(image) && fs.statSync(image).size !== imageSize) {
        throw new Error(`runGuest: image ${image} exists but is not ${imageSize} bytes; refusing to touch it`);
      }
      if (!fs.existsSync(image)) {
        fs.mkdirSync(path.dirname(image), {recursive: true});
        fs.writeFileSync(image, '');
        fs.truncateSync(image, imageSize);
        freshImage = true;
      }
    } else {
      image = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-nvdimm-')), 'nvdimm.img');
      fs.writeFileSync(image, '');
      fs.truncateSync(image, imageSize);
      tempImage = true;
      freshImage = true;
      removeAtExit(path.dirname(image));
    }
  }
  const labels = image !== undefined && (opts.labels ?? freshImage);

  // Guest-side files.
  const guestDir = path.join(kernelTestDir(), 'guest');
  for (const f of ['stage2.sh', 'prep.sh', 'daxram-harness.service']) {
    fs.copyFileSync(path.join(guestDir, f), path.join(outDir, f));
  }
  fs.writeFileSync(path.join(outDir, 'script.sh'), opts.script);
  fs.writeFileSync(path.join(outDir, 'pre.sh'), opts.preScript ?? '');
  fs.writeFileSync(path.join(outDir, 'install.sh'), installLines.join(''));
  const nfitList = opts.nfitTest
    ? [...lab.nfitModules.slice(0, -1), 'kmem', lab.nfitModules[lab.nfitModules.length - 1]]
    : [];
  const config = [
    `HARNESS_MODE=${systemd ? 'systemd' : 'script'}`,
    `HARNESS_FIRST_BOOT=${opts.firstBootScript ? 'script' : ''}`,
    `HARNESS_CWD=${shq(cwd)}`,
    `HARNESS_LABELS=${labels ? 1 : 0}`,
    `HARNESS_NFIT_MODULES=${shq(nfitList.join(' '))}`,
    `HARNESS_MODPROBE=${shq((opts.modprobe ?? defaultModprobe(opts)).join(' '))}`,
    `HARNESS_UDEV=${opts.udev ? 1 : 0}`,
    `HARNESS_WAIT_BOOT=${opts.waitForBoot === false ? 0 : 1}`,
    `HARNESS_ENABLE=${shq((opts.enable ?? []).join(' '))}`,
    `HARNESS_MASK=${shq((opts.mask ?? DEFAULT_MASKED_UNITS).filter((u) => !(opts.enable ?? []).includes(u)).join(' '))}`,
    `HARNESS_PATH=${shq(GUEST_PATH)}`,
    `HARNESS_ROOT=${rootImage ? 'image' : 'host'}`,
    `HARNESS_HOST_PATHS=${shq(rootImage ? hostPaths([os.tmpdir(), lab.repoRoot, cwd]).join(' ') : '')}`,
    `HARNESS_MODULES=${shq(lab.modulesDir)}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'config.sh'), config);

  const append = [
    'console=ttyS0', 'panic=-1', 'rdinit=/init', 'oops=panic',
    ...(systemd ? ['systemd.unit=multi-user.target', 'systemd.show_status=1'] : []),
    ...(opts.kernelArgs ?? []),
  ].join(' ');
  const qmpSocket = opts.host ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-qmp-')), 'qmp.sock') : undefined;
  const argv = qemuArgv(lab, {outDir, image, imageSize, smp, append, cxl: opts.cxl, warmReset: opts.warmReset, qmp: qmpSocket, rootImage, hmat: opts.hmat});

  const verbose = process.env.DAXRAM_GUEST_VERBOSE === '1';
  const site = callSite();
  const lease = await acquireSlot({
    label: opts.label ?? site.label,
    file: site.file,
    kernel: lab.series,
    // Unknown files are ranked by a third of their budget: most guests end well before it.
    estimateMs: estimateFor(lab.series, site.file, timeoutMs / 3),
  });
  const started = Date.now();
  const phases = phaseTracker();
  let q: QemuExit;
  let running = true;
  let hostError: unknown;
  let hostDone: Promise<void> | undefined;
  try {
    lease.setPhase('booting');
    const qemu = spawnQemu(argv, timeoutMs, (d) => {
      opts.onConsole?.(d);
      if (verbose) process.stderr.write(d);
      const phase = phases.see(d);
      if (phase) lease.setPhase(phase);
    }, (pid) => lease.setQemuPid(pid));
    if (opts.host && qmpSocket) {
      hostDone = opts.host(guestControl(outDir, qmpSocket, () => running)).catch((e: unknown) => {
        hostError = e;
      });
    }
    q = await qemu;
    running = false;
    await hostDone;
  } finally {
    running = false;
    await lease.release();
    if (qmpSocket) fs.rmSync(path.dirname(qmpSocket), {recursive: true, force: true});
  }
  const {console: consoleLog, stderr: qemuStderr, timedOut} = q;
  const exit = q;
  const durationMs = Date.now() - started;
  if (tempImage && image) {
    pendingCleanup.delete(path.dirname(image));
    fs.rmSync(path.dirname(image), {recursive: true, force: true});
  }

  try {
    fs.writeFileSync(path.join(outDir, 'console.log'), consoleLog);
  } catch { /* results share gone */ }
  const out = (name: string) => readIf(path.join(outDir, name));
  const statusText = out('status').trim();
  const failWith = (what: string): never => {
    const parts = [
      `${what} [the guest ran ${(durationMs / 1000).toFixed(1)} s after waiting ${(lease.waitedMs / 1000).toFixed(1)} s for a slot; last seen: ${phases.last()}; results share kept at ${outDir}]`,
    ];
    const setupFailed = out('setup-failed').trim();
    if (setupFailed) parts.push(`setup failed: ${setupFailed}`);
    const setupLog = out('setup.log') + out('prep.log');
    if (setupLog.trim()) parts.push(`--- setup log (tail) ---\n${tail(setupLog, 15)}`);
    if (qemuStderr.trim()) parts.push(`--- qemu stderr ---\n${tail(qemuStderr, 10)}`);
    for (const f of ['stdout', 'stderr']) {
      const t = out(f);
      if (t.trim()) parts.push(`--- script ${f} (tail) ---\n${tail(t, 10)}`);
    }
    parts.push(`--- console (last 40 lines) ---\n${tail(consoleLog, 40)}`);
    throw new GuestError(parts.join('\n'), consoleLog, outDir, timedOut);
  };

  if (exit.error) failWith(`cannot start QEMU: ${exit.error.message}`);
  if (hostError) failWith(`the host-side actions failed: ${(hostError as Error).message ?? String(hostError)}`);
  if (timedOut) failWith(`guest timed out after ${timeoutMs} ms (QEMU killed)`);
  if (!/^\d+$/.test(statusText)) {
    if (out('setup-failed').trim()) failWith('guest setup failed');
    failWith(`guest script never reported a status (QEMU exited with ${exit.signal ?? exit.code})`);
  }

  if (opts.keepOutDir || opts.outDir) {
    // caller owns it
  } else if (process.env.DAXRAM_KEEP_GUEST) {
    process.stderr.write(`DAXRAM_KEEP_GUEST: results of ${site.label} [${lab.series}] kept in ${outDir}\n`);
  } else {
    removeAtExit(outDir);
  }
  return {
    status: Number(statusText),
    stdout: out('stdout'),
    stderr: out('stderr'),
    console: consoleLog,
    outDir,
    durationMs,
    readFile: (name: string) => fs.readFileSync(path.join(outDir, name), 'utf8'),
    readJson: <T = unknown>(name: string): T => JSON.parse(fs.readFileSync(path.join(outDir, name), 'utf8')) as T,
    cleanup: () => {
      pendingCleanup.delete(outDir);
      fs.rmSync(outDir, {recursive: true, force: true});
    },
  };
}

/** Which guest kernels a test file applies to, and why not the others (shown in the skip title). */
export interface Applies {
  kernels: readonly KernelSeries[];
  /** Why the file does not apply to the other kernels. */
  why?: string;
  /** The root its guests boot, when not the build host's own (the lab must have it). */
  root?: GuestRoot;
}

/**
 * For kernel test files: `const test = kernelTest(anyTest, {kernels: ['6.1', '6.12']})`. The
 * suite runs once per kernel (DAXRAM_GUEST_KERNEL, test/kernel/suite.cjs). On a kernel the
 * file does not apply to, every test is registered as skipped with the reason in its title.
 * Otherwise returns ava's `test` when the guest can run here (installing missing packages
 * first when possible), or a stand-in whose tests are, when env CI is set, registered as
 * failing with the reason, and else skipped after a loud `!!! KERNEL SUITE SKIPPED: <reason>`
 * on stderr. Never a silent pass.
 */
export function kernelTest<C>(test: TestFn<C>, applies: Applies): TestFn<C> {
  const series = guestSeries();
  if (!applies.kernels.includes(series)) {
    return standIn(test, (title) => test.skip(`${title} [not on ${series}: ${applies.why ?? `applies to ${applies.kernels.join(', ')}`}]`, () => undefined));
  }
  const probe = probeKernelLab({install: true, series, root: applies.root});
  if (probe.ok) return test;
  const ci = Boolean(process.env.CI);
  if (ci) console.error(`!!! KERNEL SUITE FAILING (CI is set): ${probe.reason}`);
  else console.error(`!!! KERNEL SUITE SKIPPED: ${probe.reason}`);
  return standIn(test, (title) => {
    if (ci) {
      test(title, (t) => {
        t.fail(`kernel lab unavailable and CI is set: ${probe.reason}`);
      });
    } else {
      test.skip(title, () => undefined);
    }
  });
}

/** A `test` with ava's shape whose hooks do nothing and whose tests go to `register`. */
function standIn<C>(test: TestFn<C>, register: (title: string) => void): TestFn<C> {
  let n = 0;
  const add = (args: unknown[]) => {
    n += 1;
    register(typeof args[0] === 'string' ? args[0] : `kernel test #${n}`);
  };
  const noop: object = new Proxy(function noopHook() { /* hooks do nothing */ }, {
    apply: () => undefined,
    get: () => noop,
  });
  const proxy: object = new Proxy(function kernelTestStandIn() { /* see add */ }, {
    apply: (_target, _this, args: unknown[]) => add(args),
    get: (_target, prop) => {
      switch (prop) {
        case 'before': case 'after': case 'beforeEach': case 'afterEach': return noop;
        case 'macro': return test.macro;
        case 'meta': return test.meta;
        case 'todo': return test.todo;
        default: return proxy; // serial, only, skip, failing
      }
    },
  });
  return proxy as TestFn<C>;
}

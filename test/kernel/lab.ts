// Kernel lab: the host-side prerequisites of the QEMU guests (tools, guest kernels, nfit_test
// modules, initramfs, the Debian 13 root image), built once per kernel and cached under
// test/kernel/.cache/<kver>/ (the root image under LAB_DIR, machine-wide).
// Three guest kernels: Debian 12's 6.1, 6.12 from bookworm-backports (with QEMU 10 for CXL) and
// the newest linux-image-amd64 of trixie-backports, unpacked into the Debian 13 root;
// install-lab.sh installs them all. docs/kernel-lab.md has the recipes and the kernel facts.
import {spawn, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {buildNfitTest, NFIT_INSMOD_ORDER, onHost} from './nfit';
import {run, tail, withLock} from './util';

/**
 * The guest kernels: Debian 12's own, bookworm-backports' (with QEMU 10, for CXL) and the newest
 * of trixie-backports ("newest": 7.3 when this was written; the lab follows the meta package).
 */
export const KERNEL_SERIES = ['6.1', '6.12', 'newest'] as const;
export type KernelSeries = (typeof KERNEL_SERIES)[number];

/** The guest roots: the build host itself (Debian 12), or the Debian 13 root image. */
export const GUEST_ROOTS = ['bookworm', 'trixie'] as const;
export type GuestRoot = (typeof GUEST_ROOTS)[number];

/** Machine-wide lab state that outlives a checkout: the Debian 13 root and its image. */
export const LAB_DIR = '/var/cache/daxram-lab';
export const TRIXIE_ROOT = path.join(LAB_DIR, 'trixie');
const TRIXIE_STAMP = path.join(TRIXIE_ROOT, '.daxram-lab-stamp');
const TRIXIE_IMAGE = path.join(LAB_DIR, 'trixie.squashfs');

/** The kernel guests boot unless told otherwise: DAXRAM_GUEST_KERNEL, else 6.1. */
export function guestSeries(): KernelSeries {
  const k = process.env.DAXRAM_GUEST_KERNEL ?? '6.1';
  if (!(KERNEL_SERIES as readonly string[]).includes(k)) throw new Error(`DAXRAM_GUEST_KERNEL=${k}: expected one of ${KERNEL_SERIES.join(', ')}`);
  return k as KernelSeries;
}

/** A guest kernel and what building nfit_test for it needs. Paths are host paths. */
export interface GuestKernel {
  series: KernelSeries;
  /** Kernel release, e.g. "6.1.0-57-amd64". */
  kver: string;
  /** The bzImage. */
  image: string;
  /** Its modules directory (bound at /lib/modules/<kver> in roots that lack it). */
  modulesDir: string;
  /** Where nfit_test is built: undefined = on this host; else a root to chroot into (its compiler matches the kernel's). */
  buildRoot?: string;
  /** Kernel headers and linux-source tarball, as seen from the build root. */
  headers: string;
  sourceTarball: string;
}

/** Modules the initramfs loads, in dependency order (busybox insmod resolves nothing). Built-in ones are skipped. */
export const INITRAMFS_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci',
  'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p', 'overlay',
  // The Debian 13 root is a squashfs image on a virtio disk.
  'virtio_blk', 'squashfs',
] as const;
/** Gone in later kernels (fscache merged into netfs in 6.4): absent is fine. */
const OPTIONAL_MODULES = new Set(['fscache']);
const INSTALL_SCRIPT = 'install-lab.sh';

const QEMU = '/usr/bin/qemu-system-x86_64';
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

export interface KernelLab {
  series: KernelSeries;
  /** Guest kernel release, e.g. "6.1.0-56-amd64". */
  kernelVersion: string;
  /** Path of the guest kernel image (/boot/vmlinuz-<kver>, or the newest kernel's in the Debian 13 root). */
  kernel: string;
  /** Its modules directory on the host. */
  modulesDir: string;
  /**
   * The same kernel, decompressed (ELF vmlinux, cached): QEMU boots it through PVH, which
   * skips the xz decompression that costs seconds under TCG. Undefined if extraction failed.
   */
  vmlinux?: string;
  /** Path of the cached initramfs (gzip'd newc cpio). */
  initramfs: string;
  /** Absolute paths of the nfit_test chain, in insmod order (see NFIT_INSMOD_ORDER). */
  nfitModules: string[];
  /** qemu-system-x86_64 binary. */
  qemu: string;
  /** Repository root (the directory holding daxram's package.json). */
  repoRoot: string;
  /** test/kernel/.cache/<kver>/ */
  cacheDir: string;
}

export type LabProbe =
  | {ok: true; kernelVersion: string}
  | {ok: false; reason: string; installable: boolean};

/** The repository root, found by walking up from this file (works from test/ and dist/test/). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    // dist/ holds a copy of package.json too (tsc emits the JSON daemon/util/version.ts imports).
    if (fs.existsSync(pj) && fs.existsSync(path.join(dir, 'tsconfig.json'))) {
      try {
        const name = (JSON.parse(fs.readFileSync(pj, 'utf8')) as {name?: unknown}).name;
        if (name === 'daxram') return dir;
      } catch { /* keep walking */ }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find daxram's package.json above ${__dirname}`);
    dir = up;
  }
}

/** Source directory of test/kernel (guest scripts, initramfs/init), from src or dist. */
export function kernelTestDir(): string {
  return path.join(repoRoot(), 'test', 'kernel');
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? -1;
    const y = pb[i] ?? -1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** Versions in a directory's names matching `re` (group 1), oldest first. */
function versionsIn(dir: string, re: RegExp): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.map((n) => re.exec(n)?.[1]).filter((v): v is string => v !== undefined).sort(compareVersions);
}

/** The newest installed guest kernel of `series`, or undefined. */
export function findGuestKernel(series: KernelSeries = guestSeries()): GuestKernel | undefined {
  if (series === 'newest') {
    const modules = path.join(TRIXIE_ROOT, 'usr', 'lib', 'modules');
    const kver = versionsIn(modules, /^(\d+\.\d+\S*-amd64)$/).filter((v) => fs.existsSync(path.join(modules, v, 'vmlinuz'))).pop();
    if (!kver) return undefined;
    return {
      series, kver,
      image: path.join(modules, kver, 'vmlinuz'),
      modulesDir: path.join(modules, kver),
      buildRoot: TRIXIE_ROOT,
      headers: `/usr/lib/modules/${kver}/build`,
      sourceTarball: `/usr/src/linux-source-${kver.replace(/^(\d+\.\d+).*$/, '$1')}.tar.xz`,
    };
  }
  const kver = versionsIn('/boot', new RegExp(`^vmlinuz-(${series.replace('.', '\\.')}\\.\\S+-amd64)$`))
    .filter((v) => fs.existsSync(`/lib/modules/${v}/modules.dep`) || fs.existsSync(`/lib/modules/${v}/kernel`))
    .pop();
  if (!kver) return undefined;
  return {
    series, kver,
    image: `/boot/vmlinuz-${kver}`,
    modulesDir: `/lib/modules/${kver}`,
    headers: `/lib/modules/${kver}/build`,
    sourceTarball: `/usr/src/linux-source-${series}.tar.xz`,
  };
}

/** QEMU's major version, or 0 when it cannot be run. */
export function qemuMajor(): number {
  const r = spawnSync(QEMU, ['--version'], {encoding: 'utf8'});
  const m = /version (\d+)\./.exec(r.stdout ?? '');
  return m ? Number(m[1]) : 0;
}

function missingPrerequisites(series: KernelSeries, root: GuestRoot = 'bookworm'): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(QEMU)) missing.push(`${QEMU} (qemu-system-x86)`);
  else if (series !== '6.1' && qemuMajor() < 9) missing.push('QEMU >= 9 for CXL volatile memory (qemu-system-x86 from bookworm-backports)');
  if (!BUSYBOX_CANDIDATES.some((b) => fs.existsSync(b))) missing.push('busybox (busybox-static)');
  if (!fs.existsSync('/usr/bin/ndctl')) missing.push('ndctl');
  if (!fs.existsSync('/usr/bin/daxctl')) missing.push('daxctl');
  if (!fs.existsSync('/usr/bin/xz')) missing.push('xz (xz-utils)');
  if (!fs.existsSync('/usr/bin/setpriv')) missing.push('setpriv (util-linux)');
  if ((series === 'newest' || root === 'trixie') && !fs.existsSync(TRIXIE_STAMP)) missing.push(`the Debian 13 root ${TRIXIE_ROOT} (build-trixie-root.sh)`);
  if (root === 'trixie' && !fs.existsSync('/usr/bin/mksquashfs')) missing.push('mksquashfs (squashfs-tools)');
  const k = findGuestKernel(series);
  if (!k) {
    missing.push(series === 'newest' ? `the newest kernel under ${TRIXIE_ROOT}/usr/lib/modules` : `a /boot/vmlinuz-${series}.*-amd64 guest kernel`);
    return missing;
  }
  if (!fs.existsSync(onHost(k, k.sourceTarball))) missing.push(`${onHost(k, k.sourceTarball)} (linux-source)`);
  if (!fs.existsSync(onHost(k, path.join(k.headers, 'Makefile')))) missing.push(`${onHost(k, k.headers)} (linux-headers-${k.kver})`);
  return missing;
}

function canInstall(): boolean {
  return process.getuid?.() === 0 && fs.existsSync('/usr/bin/apt-get');
}

/**
 * Synchronous check of what the lab needs, without building anything. With
 * `install: true` it runs apt-get (synchronously) when something is missing and we are
 * root. Used by test files to decide, at load time, between running and skipping.
 */
export function probeKernelLab(opts: {install?: boolean; series?: KernelSeries; root?: GuestRoot} = {}): LabProbe {
  const series = opts.series ?? guestSeries();
  // For testing the skip/fail policy of kernel suites: pretend the lab is unavailable.
  const forced = process.env.DAXRAM_KERNEL_LAB_UNAVAILABLE;
  if (forced) return {ok: false, reason: `DAXRAM_KERNEL_LAB_UNAVAILABLE=${forced}`, installable: false};
  let missing = missingPrerequisites(series, opts.root);
  if (missing.length > 0 && opts.install && canInstall()) {
    const r = installPackagesSync();
    if (!r.ok) return {ok: false, reason: `install-lab.sh failed: ${r.message}`, installable: true};
    missing = missingPrerequisites(series, opts.root);
  }
  if (missing.length > 0) {
    return {ok: false, reason: `missing: ${missing.join(', ')}`, installable: canInstall()};
  }
  if (process.getuid?.() !== 0) {
    return {ok: false, reason: 'the kernel lab must run as root (reads /boot/vmlinuz-*)', installable: false};
  }
  return {ok: true, kernelVersion: (findGuestKernel(series) as GuestKernel).kver};
}

const APT_ENV = {...process.env, DEBIAN_FRONTEND: 'noninteractive'};

/** Every kernel's packages, QEMU 10, the Debian 13 root and the tools, as .ci/run installs them (install-lab.sh). */
function installPackagesSync(): {ok: boolean; message: string} {
  const r = spawnSync('/bin/bash', [path.join(kernelTestDir(), INSTALL_SCRIPT)], {env: APT_ENV, encoding: 'utf8', maxBuffer: 64 << 20});
  if (r.status !== 0) return {ok: false, message: `exited ${r.status}: ${tail((r.stdout ?? '') + (r.stderr ?? ''), 20)}`};
  return {ok: true, message: ''};
}

// ---------------------------------------------------------------------------------------
// initramfs: a gzip'd newc cpio written here (no cpio/find pipeline needed).

interface CpioEntry {
  name: string;
  mode: number; // including the file type bits
  data?: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const header = '070701' + [
      ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0, name.length, 0,
    ].map(hex).join('');
    parts.push(Buffer.from(header, 'ascii'), name, pad4(110 + name.length), data, pad4(data.length));
  };
  entries.forEach(push);
  push({name: 'TRAILER!!!', mode: 0});
  return Buffer.concat(parts);
}

/** A module file's bytes; busybox insmod cannot read .ko.xz (6.12 ships them compressed). */
function moduleBytes(p: string): Buffer {
  if (!p.endsWith('.xz')) return fs.readFileSync(p);
  const r = spawnSync('/usr/bin/xz', ['-dc', p], {maxBuffer: 256 << 20});
  if (r.status !== 0) throw new Error(`xz -dc ${p} failed: ${r.stderr?.toString()}`);
  return r.stdout as Buffer;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

function buildInitramfs(k: GuestKernel, out: string): void {
  const busybox = BUSYBOX_CANDIDATES.find((b) => fs.existsSync(b)) as string;
  const init = fs.readFileSync(path.join(kernelTestDir(), 'initramfs', 'init'));
  const entries: CpioEntry[] = [];
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'mnt', 'newroot', 'lib', 'lib/modules', 'tmp']) {
    entries.push({name: d, mode: S_IFDIR | 0o755});
  }
  entries.push({name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1});
  entries.push({name: 'dev/null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3});
  entries.push({name: 'bin/busybox', mode: S_IFREG | 0o755, data: fs.readFileSync(busybox)});
  entries.push({name: 'init', mode: S_IFREG | 0o755, data: init});
  const modDir = path.join(k.modulesDir, 'kernel');
  const index = new Map<string, string>();
  const walk = (dir: string) => {
    for (const ent of fs.readdirSync(dir, {withFileTypes: true})) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.name.endsWith('.ko')) index.set(ent.name.slice(0, -3), p);
      else if (ent.name.endsWith('.ko.xz')) index.set(ent.name.slice(0, -6), p);
    }
  };
  for (const sub of ['drivers/virtio', 'drivers/block', 'fs', 'net/9p']) walk(path.join(modDir, sub));
  const builtin = fs.readFileSync(path.join(k.modulesDir, 'modules.builtin'), 'utf8');
  for (const m of INITRAMFS_MODULES) {
    const p = index.get(m);
    if (!p) {
      if (new RegExp(`/${m.replace(/_/g, '[_-]')}\\.ko$`, 'm').test(builtin)) continue;
      if (OPTIONAL_MODULES.has(m)) continue;
      throw new Error(`module ${m}.ko not found under ${modDir}`);
    }
    entries.push({name: `lib/modules/${m}.ko`, mode: S_IFREG | 0o644, data: moduleBytes(p)});
  }
  const order = INITRAMFS_MODULES.filter((m) => index.has(m)).join('\n') + '\n';
  entries.push({name: 'modules.order', mode: S_IFREG | 0o644, data: Buffer.from(order)});
  const tmp = `${out}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, zlib.gzipSync(cpioNewc(entries), {level: 6}));
  fs.renameSync(tmp, out);
}

/**
 * Decompresses the xz payload of a bzImage into an ELF vmlinux (cached by the bzImage's
 * mtime and size). Returns undefined when this is not possible (then the bzImage is used).
 */
async function extractVmlinux(bzImage: string, out: string): Promise<string | undefined> {
  const st = fs.statSync(bzImage);
  const stampFile = `${out}.stamp`;
  const want = `${bzImage} ${st.mtimeMs} ${st.size}`;
  try {
    if (fs.readFileSync(stampFile, 'utf8') === want && fs.existsSync(out)) return out;
  } catch { /* not cached */ }
  const img = fs.readFileSync(bzImage);
  const at = img.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0 || !fs.existsSync('/usr/bin/xz')) return undefined;
  const xzFile = `${out}.xz.tmp`;
  const tmp = `${out}.tmp`;
  try {
    fs.writeFileSync(xzFile, img.subarray(at));
    await new Promise<void>((resolve, reject) => {
      const fd = fs.openSync(tmp, 'w');
      const child = spawn('/usr/bin/xz', ['-dc', '--single-stream', xzFile], {stdio: ['ignore', fd, 'pipe']});
      let err = '';
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => {
        fs.closeSync(fd);
        if (code === 0) resolve();
        else reject(new Error(`xz exited ${code}: ${err}`));
      });
    });
    const head = Buffer.alloc(4);
    const fd = fs.openSync(tmp, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return undefined;
    fs.renameSync(tmp, out);
    fs.writeFileSync(stampFile, want);
    return out;
  } catch {
    return undefined;
  } finally {
    fs.rmSync(xzFile, {force: true});
    fs.rmSync(tmp, {force: true});
  }
}

// ---------------------------------------------------------------------------------------

const cached = new Map<KernelSeries, Promise<KernelLab>>();

/**
 * Make sure everything a guest of `series` needs is here: installs missing packages
 * (install-lab.sh, as root), finds the guest kernel, builds the nfit_test modules and the
 * initramfs into test/kernel/.cache/<kver>/ unless already there for that kernel (and for the
 * current initramfs/init). Safe to call concurrently from several workers.
 */
export function ensureKernelLab(series: KernelSeries = guestSeries()): Promise<KernelLab> {
  let p = cached.get(series);
  if (!p) {
    p = doEnsure(series).catch((e: unknown) => {
      cached.delete(series);
      throw e;
    });
    cached.set(series, p);
  }
  return p;
}

async function doEnsure(series: KernelSeries): Promise<KernelLab> {
  const root = repoRoot();
  const lockDir = path.join(root, 'test', 'kernel', '.cache', 'lock');
  return withLock(lockDir, async () => {
    let missing = missingPrerequisites(series);
    if (missing.length > 0) {
      if (!canInstall()) throw new Error(`kernel lab prerequisites missing and cannot install (not root): ${missing.join(', ')}`);
      await run(['/bin/bash', path.join(kernelTestDir(), INSTALL_SCRIPT)], {env: APT_ENV});
      missing = missingPrerequisites(series);
      if (missing.length > 0) throw new Error(`kernel lab prerequisites still missing after install-lab.sh: ${missing.join(', ')}`);
    }
    const k = findGuestKernel(series) as GuestKernel;
    const cacheDir = path.join(root, 'test', 'kernel', '.cache', k.kver);
    fs.mkdirSync(cacheDir, {recursive: true});
    // Caches of kernels that are no longer a guest kernel are stale: drop them.
    const current = new Set(KERNEL_SERIES.map((s) => findGuestKernel(s)?.kver));
    for (const ent of fs.readdirSync(path.dirname(cacheDir), {withFileTypes: true})) {
      if (ent.isDirectory() && /^\d/.test(ent.name) && !current.has(ent.name)) {
        fs.rmSync(path.join(path.dirname(cacheDir), ent.name), {recursive: true, force: true});
      }
    }

    const nfitModules = await buildNfitTest(k, path.join(cacheDir, 'nfit_test'));

    // The initramfs depends on the kernel's modules, busybox and our init script.
    const initramfs = path.join(cacheDir, 'initramfs.cpio.gz');
    const stamp = path.join(cacheDir, 'initramfs.stamp');
    const busybox = BUSYBOX_CANDIDATES.find((b) => fs.existsSync(b)) as string;
    const want = JSON.stringify({
      kver: k.kver,
      init: fs.readFileSync(path.join(kernelTestDir(), 'initramfs', 'init'), 'utf8'),
      busybox: fs.statSync(busybox).mtimeMs,
      modules: INITRAMFS_MODULES,
      vmlinuz: fs.statSync(k.image).mtimeMs,
    });
    let have = '';
    try {
      have = fs.readFileSync(stamp, 'utf8');
    } catch { /* none */ }
    if (have !== want || !fs.existsSync(initramfs)) {
      buildInitramfs(k, initramfs);
      fs.writeFileSync(stamp, want);
    }
    const vmlinux = await extractVmlinux(k.image, path.join(cacheDir, 'vmlinux'));
    return {
      series,
      kernelVersion: k.kver,
      kernel: k.image,
      modulesDir: k.modulesDir,
      vmlinux,
      initramfs,
      nfitModules,
      qemu: QEMU,
      repoRoot: root,
      cacheDir,
    };
  });
}

let rootImage: Promise<string> | undefined;

/**
 * The Debian 13 root as a read-only squashfs image (uncompressed: under TCG every decompressed
 * byte costs guest time), rebuilt when the root's stamp changes. The guest reads it from a
 * virtio disk: Debian 13's nodejs starts in about a second from it, against ~2.7 s over 9p.
 */
export function ensureRootImage(): Promise<string> {
  rootImage ??= withLock(path.join(LAB_DIR, 'image.lock'), async () => {
    // The kernel sources and headers are for building nfit_test on the host side only; apt's
    // package lists and caches go too: `apt install ./daxram_*.deb` needs none of them (the
    // package's dependencies are installed), and parsing 90 MB of lists took it 55 s under TCG.
    const args = ['-noappend', '-no-progress', '-quiet', '-noI', '-noD', '-noF', '-noX', '-wildcards', '-e', 'usr/src', 'var/cache/apt/*', 'var/lib/apt/lists/*'];
    const want = fs.readFileSync(TRIXIE_STAMP, 'utf8') + JSON.stringify(args);
    const stampFile = `${TRIXIE_IMAGE}.stamp`;
    let have = '';
    try {
      have = fs.readFileSync(stampFile, 'utf8');
    } catch { /* none */ }
    if (have === want && fs.existsSync(TRIXIE_IMAGE)) return TRIXIE_IMAGE;
    const tmp = `${TRIXIE_IMAGE}.tmp`;
    fs.rmSync(tmp, {force: true});
    await run(['/usr/bin/mksquashfs', TRIXIE_ROOT, tmp, ...args]);
    fs.renameSync(tmp, TRIXIE_IMAGE);
    fs.writeFileSync(stampFile, want);
    return TRIXIE_IMAGE;
  }).catch((e: unknown) => {
    rootImage = undefined;
    throw e;
  });
  return rootImage;
}

export {NFIT_INSMOD_ORDER};

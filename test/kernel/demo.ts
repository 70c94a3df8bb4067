// `npm run demo`: boots kernel-lab guests (Debian 6.1 under QEMU with an emulated NVDIMM on
// memory-only node 1, then Debian 6.12 with two CXL memory expanders) and shows what the kernel
// and daxram see.
//
// Structure: a demo is a list of guest runs (`DemoGuest`), each a list of shell steps with
// a title; every step's output is printed on the host under its title. To extend it (e.g.
// boot under systemd with daxramd enabled and show `daxram list` before and after), add a
// DemoGuest with `options: {systemd: true, install: [...], enable: ['daxramd.service']}`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {daemonInstall} from './daemon-setup';
import {ensureKernelLab, expectSuccess, runGuest, type GuestOptions} from './harness';

export interface DemoStep {
  title: string;
  /** sh run in the guest (cwd = repo root); its stdout+stderr are shown under the title. */
  sh: string;
}

export interface DemoGuest {
  title: string;
  options?: Omit<GuestOptions, 'script'>;
  steps: DemoStep[];
}

const MARK = '@@daxram-demo-step@@';

/** One guest script for all steps, each step's output delimited for the host to split. */
function scriptFor(steps: DemoStep[]): string {
  return steps.map((s, i) => [
    `echo '${MARK} ${i}'`,
    `( ${s.sh}\n) 2>&1`,
    `echo "${MARK} rc $?"`,
  ].join('\n')).join('\n');
}

function printSteps(steps: DemoStep[], stdout: string): void {
  const parts = stdout.split(new RegExp(`^${MARK} (\\d+)\\n`, 'm'));
  // parts: [pre, idx, body, idx, body, ...]
  for (let k = 1; k < parts.length; k += 2) {
    const step = steps[Number(parts[k])];
    const body = parts[k + 1] ?? '';
    const rc = new RegExp(`^${MARK} rc (\\d+)$`, 'm').exec(body)?.[1] ?? '?';
    const bold = (x: string) => (process.stdout.isTTY ? `\x1b[1m${x}\x1b[0m` : x);
    console.log(`\n${bold(`$ ${step.title}`)}${rc === '0' ? '' : `   (exit ${rc})`}`);
    process.stdout.write(body.replace(new RegExp(`^${MARK} rc \\d+\\n?`, 'm'), ''));
  }
}

export function defaultDemo(repo: string): DemoGuest[] {
  const haveCli = fs.existsSync(path.join(repo, 'bin', 'daxram')) && fs.existsSync(path.join(repo, 'dist', 'daemon', 'cli', 'main.js'));
  const daxramList: DemoStep[] = haveCli
    ? [{title: 'daxram list', sh: 'node bin/daxram list'}]
    : [{title: 'daxram list', sh: 'echo "(bin/daxram or dist/daemon/cli/main.js missing: run npm run build)"'}];
  // Both guests use one NVDIMM image: the namespace made in the first persists in its labels,
  // so the dax device exists at boot in the second.
  const image = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-demo-')), 'nvdimm.img');
  const daemon = daemonInstall(undefined);
  return [{
    title: 'script guest: the QEMU NVDIMM, before and after making a devdax namespace',
    options: {image},
    steps: [
      {title: 'uname -r; numactl-like view of nodes', sh: 'uname -r; grep -H MemTotal /sys/devices/system/node/node*/meminfo'},
      {title: 'daxctl list -DRM', sh: 'daxctl list -DRM'},
      ...daxramList,
      {title: 'ndctl create-namespace -r region0 -m devdax -a 2M -s 1G', sh: 'ndctl create-namespace -r region0 -m devdax -a 2M -s 1G'},
      {title: 'daxctl list -DRM', sh: 'daxctl list -DRM'},
      ...daxramList,
    ],
  }, {
    title: 'systemd guest (same NVDIMM): udev pulls in daxramd, which onlines dax0.0 on node 1 as configured',
    options: {image, systemd: true, ...daemon, timeoutMs: 420_000},
    steps: [
      {title: 'cat /etc/daxram/daxram.conf', sh: 'cat /etc/daxram/daxram.conf'},
      {title: 'systemctl status daxramd', sh: 'systemctl status daxramd --no-pager 2>&1 | head -12'},
      ...daxramList,
      {title: 'daxram status', sh: 'node bin/daxram status'},
      {title: 'journalctl -u daxramd  ([priority] message)', sh: `journalctl -b -u daxramd -o json --no-pager | node -e 'require("readline").createInterface({input: process.stdin}).on("line", (l) => { const e = JSON.parse(l); console.log("[" + e.PRIORITY + "] " + e.MESSAGE); })'`},
      {title: 'grep MemTotal /sys/devices/system/node/node1/meminfo', sh: 'grep MemTotal /sys/devices/system/node/node1/meminfo'},
    ],
  }, {
    title: 'Debian 6.12 guest with two CXL type-3 memory expanders (QEMU 10): capacity made, split and given back',
    options: {kernel: '6.12', cxl: {memdevs: 2}, nvdimm: false, timeoutMs: 600_000},
    steps: [
      {title: 'daxram list -C  (memdevs, no region yet)', sh: 'modprobe msr; for i in $(seq 1 60); do [ "$(ls -d /sys/bus/cxl/devices/endpoint* 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done; node bin/daxram list -C'},
      {title: 'daxram provision mem0,mem1 --dry-run', sh: 'node bin/daxram provision mem0,mem1 --dry-run'},
      {title: 'daxram provision mem0,mem1', sh: 'node bin/daxram provision mem0,mem1'},
      {title: 'daxram list -C', sh: 'node bin/daxram list -C'},
      {title: 'cxl list -R  (the oracle)', sh: 'cxl list -R'},
      {title: 'daxram reassign region0 --ram 512M', sh: 'node bin/daxram reassign region0 --ram 512M'},
      {title: 'daxctl list -D', sh: 'daxctl list -D'},
      {title: 'daxram release region0', sh: 'node bin/daxram release region0'},
      {title: 'cxl list -R  (no region: the capacity is free)', sh: 'cxl list -R; echo "regions: $(ls /sys/bus/cxl/devices | grep -c ^region)"'},
    ],
  }];
}

export async function runDemo(guests: DemoGuest[]): Promise<number> {
  let worst = 0;
  for (const g of guests) {
    console.log(`\n=== ${g.title}`);
    const started = Date.now();
    const r = await runGuest({...g.options, script: scriptFor(g.steps)});
    printSteps(g.steps, r.stdout);
    if (r.stderr.trim()) process.stderr.write(r.stderr);
    console.log(`\n(guest ran ${((Date.now() - started) / 1000).toFixed(1)} s, status ${r.status})`);
    try {
      expectSuccess(r);
    } catch {
      worst = Math.max(worst, r.status);
    }
  }
  return worst;
}

async function main(): Promise<void> {
  console.log('preparing the kernel lab (first run: installs packages, builds nfit_test + initramfs)...');
  const lab = await ensureKernelLab();
  console.log(`guest kernel ${lab.kernelVersion}`);
  process.exitCode = await runDemo(defaultDemo(lab.repoRoot));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}

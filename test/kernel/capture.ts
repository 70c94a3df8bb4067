// Records the real kernel's sysfs shapes (nd + dax buses, memory blocks, iomem, ndctl and
// daxctl JSON) for the model engineers, into test/kernel/captures/<scenario>.txt.
//
//   host:  node dist/test/kernel/capture.js            (boots a guest with nfit_test)
//   guest: node dist/test/kernel/capture.js --guest DIR (what the guest runs)
//
// Scenarios (one boot): 01-labels-no-namespace (QEMU NVDIMM labelled, nfit_test loaded),
// 02-devdax (+ a 1 GiB devdax namespace on region0, align 2M), 03-system-ram (after
// `daxctl reconfigure-device -m system-ram dax0.0`).
import {execFileSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const MODE_CHARS = 'rwxrwxrwx';

function modeString(st: fs.Stats): string {
  const type = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '-';
  let s = type;
  for (let i = 0; i < 9; i++) s += st.mode & (1 << (8 - i)) ? MODE_CHARS[i] : '-';
  return s;
}

/** `ls -la`-like listing of one directory (names sorted). */
function listing(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (e) {
    return [`  [error ${(e as NodeJS.ErrnoException).code}]`];
  }
  for (const n of names) {
    const p = path.join(dir, n);
    try {
      const st = fs.lstatSync(p);
      out.push(`  ${modeString(st)} ${String(st.size).padStart(5)} ${n}${st.isSymbolicLink() ? ` -> ${fs.readlinkSync(p)}` : ''}`);
    } catch (e) {
      out.push(`  [error ${(e as NodeJS.ErrnoException).code}] ${n}`);
    }
  }
  return out;
}

const NOT_READ = new Set(['remove', 'delete', 'uevent_trigger']);

function readAttr(p: string): string[] {
  try {
    const v = fs.readFileSync(p, 'utf8');
    if (v === '') return ['  [empty]'];
    const lines = v.replace(/\n$/, '').split('\n');
    const shown = lines.slice(0, 60).map((l) => `  | ${l}`);
    if (lines.length > 60) shown.push(`  [... ${lines.length - 60} more lines]`);
    return shown;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return [`  [error ${err.code}: ${err.message.replace(/,.*$/, '')}]`];
  }
}

/** Every attribute (content or error) and link under dir, down to `depth` subdirectories. */
function dumpTree(root: string, dir: string, depth: number, out: string[]): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch (e) {
    out.push(`  [error ${(e as NodeJS.ErrnoException).code}]`);
    return;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    const rel = path.relative(root, p);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      out.push(`${rel} -> ${fs.readlinkSync(p)}`);
    } else if (st.isDirectory()) {
      out.push(`${rel}/`);
      if (depth > 0) dumpTree(root, p, depth - 1, out);
    } else {
      out.push(`${rel} (${modeString(st)})`);
      if (NOT_READ.has(n)) out.push('  [not read]');
      else out.push(...readAttr(p));
    }
  }
}

function sh(argv: string[]): string {
  try {
    return execFileSync(argv[0], argv.slice(1), {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  } catch (e) {
    const err = e as {status?: number; stdout?: string; stderr?: string};
    return `${err.stdout ?? ''}${err.stderr ?? ''}[exit ${err.status}]\n`;
  }
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort().map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

function memoryBlocks(out: string[], daxDev: string): void {
  const bs = parseInt(fs.readFileSync('/sys/devices/system/memory/block_size_bytes', 'utf8').trim(), 16);
  let start: number;
  let size: number;
  try {
    start = Number(fs.readFileSync(path.join(daxDev, 'resource'), 'utf8').trim());
    size = Number(fs.readFileSync(path.join(daxDev, 'size'), 'utf8').trim());
  } catch (e) {
    out.push(`  [no resource/size: ${(e as Error).message}]`);
    return;
  }
  const first = Math.ceil(start / bs);
  const last = Math.floor((start + size) / bs) - 1;
  out.push(`range start=0x${start.toString(16)} size=0x${size.toString(16)} block_size=0x${bs.toString(16)} full blocks memory${first}..memory${last}`);
  for (const n of [first, first + 1, first + 2]) {
    const m = `/sys/devices/system/memory/memory${n}`;
    out.push('', `----- ${m}`);
    if (!fs.existsSync(m)) {
      out.push('  (absent)');
      continue;
    }
    out.push(`realpath: ${fs.realpathSync(m)}`, ...listing(m));
    for (const a of ['state', 'valid_zones', 'phys_index', 'online', 'phys_device', 'removable']) {
      out.push(`${a}:`, ...readAttr(path.join(m, a)));
    }
  }
}

function scenario(outDir: string, name: string): void {
  const out: string[] = [`# scenario: ${name}`, `# kernel: ${fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`, ''];
  const devs = [...entries('/sys/bus/nd/devices'), ...entries('/sys/bus/dax/devices')];
  out.push('######## ls -la /sys/bus/nd/devices/ /sys/bus/dax/devices/');
  out.push(sh(['ls', '-la', '/sys/bus/nd/devices/', '/sys/bus/dax/devices/']));
  out.push('######## find /sys/bus/nd/devices/ /sys/bus/dax/devices/ -maxdepth 1');
  out.push(sh(['find', '/sys/bus/nd/devices/', '/sys/bus/dax/devices/', '-maxdepth', '1']));
  out.push('######## realpaths');
  for (const d of [...devs, ...entries('/sys/class/nd'), ...entries('/sys/class/dax')]) out.push(`${d} -> ${fs.realpathSync(d)}`);
  out.push('', '######## devices');
  for (const d of [...devs, ...entries('/sys/class/nd')]) {
    const real = fs.realpathSync(d);
    out.push('', `=================== ${d}`, `realpath: ${real}`, ...listing(real));
    dumpTree(real, real, 2, out);
  }
  out.push('', '######## memory');
  for (const a of ['block_size_bytes', 'auto_online_blocks']) {
    out.push(`/sys/devices/system/memory/${a}:`, ...readAttr(`/sys/devices/system/memory/${a}`));
  }
  for (const p of entries('/sys/module/memory_hotplug/parameters')) out.push(`${p}:`, ...readAttr(p));
  for (const d of entries('/sys/bus/dax/devices')) {
    let tn = '?';
    try {
      tn = fs.readFileSync(path.join(d, 'target_node'), 'utf8').trim();
    } catch { /* none */ }
    out.push('', `######## memory blocks of ${path.basename(d)} (target_node ${tn})`);
    memoryBlocks(out, d);
  }
  out.push('', '######## ls -la /sys/devices/system/node/node1/', ...listing('/sys/devices/system/node/node1'));
  out.push('node1/meminfo:', ...readAttr('/sys/devices/system/node/node1/meminfo'));
  out.push('', '######## /proc/iomem', fs.readFileSync('/proc/iomem', 'utf8'));
  out.push('######## ndctl list -BDRNu --media-errors -v', sh(['ndctl', 'list', '-BDRNu', '--media-errors', '-v']));
  out.push('######## daxctl list -DRMu', sh(['daxctl', 'list', '-DRMu']));
  out.push('######## /proc/modules (nvdimm, dax)');
  out.push(...fs.readFileSync('/proc/modules', 'utf8').split('\n').filter((l) => /^(nfit|libnvdimm|nd_|dax|device_dax|kmem)/.test(l)));
  const file = path.join(outDir, `${name}.txt`);
  fs.writeFileSync(file, `${out.join('\n')}\n`);
  console.log(`wrote ${file} (${fs.statSync(file).size} bytes)`);
}

function guestMain(outDir: string): void {
  scenario(outDir, '01-labels-no-namespace');
  const ns = execFileSync('ndctl', ['create-namespace', '-r', 'region0', '-m', 'devdax', '-a', '2M', '-s', '1G'], {encoding: 'utf8'});
  fs.writeFileSync(path.join(outDir, 'create-namespace.json'), ns);
  console.log(ns);
  scenario(outDir, '02-devdax');
  const rc = execFileSync('daxctl', ['reconfigure-device', '-m', 'system-ram', 'dax0.0'], {encoding: 'utf8'});
  fs.writeFileSync(path.join(outDir, 'reconfigure.json'), rc);
  console.log(rc);
  scenario(outDir, '03-system-ram');
}

async function hostMain(): Promise<void> {
  // Imported here so the guest side does not need the harness.
  const {runGuest} = await import('./harness');
  const {repoRoot} = await import('./lab');
  const capDir = path.join(repoRoot(), 'test', 'kernel', 'captures');
  const r = await runGuest({
    nfitTest: true,
    script: `exec node ${JSON.stringify(path.join(__dirname, 'capture.js'))} --guest "$HARNESS_OUT"`,
    timeoutMs: 900_000,
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`capture script exited ${r.status}`);
  for (const f of fs.readdirSync(r.outDir)) {
    if (/^\d\d-.*\.txt$/.test(f) || f === 'create-namespace.json' || f === 'reconfigure.json') {
      fs.copyFileSync(path.join(r.outDir, f), path.join(capDir, f));
    }
  }
  console.log(`captures in ${capDir} (guest ran ${(r.durationMs / 1000).toFixed(1)} s)`);
}

if (require.main === module) {
  const i = process.argv.indexOf('--guest');
  if (i >= 0) {
    guestMain(process.argv[i + 1] ?? '/harness');
  } else {
    hostMain().catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
  }
}

// Start-up: what each program costs before it does anything, against `node -e 0` in the same run.
// Every command and the anchor run in turn (anchor, A, anchor, B, ...) and each ratio is taken
// pair by pair, so a machine whose speed drifts (a TCG guest, a noisy host) still gives a ratio
// that means something. Measured through the launcher the package's /usr/bin scripts use:
//   - the boot guard's verb (daxramd --release-hotplug, nothing held) run by its own bundle, and
//     the same verb run by the whole daxramd bundle (what the guard loaded before it had one),
//     both cold: the guard cannot write the code cache, and a fresh boot has none;
//   - daxramd --help and daxram --version, cold (no code cache) and warm (the cache written by
//     the previous run).
// Run: npm run bench:startup (after npm run build:js); in a guest for the runtime a package
// flavour uses (Debian 13's nodejs has no builtin code cache: every builtin compiles at start).
// Env: BENCH_RUNS (default 10).

import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {median} from './stats';

const BUNDLE = path.join(__dirname, '..', 'bundle');
const LAUNCH = path.join(BUNDLE, 'launch.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 10);

function wallMs(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, {encoding: 'utf8'});
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

interface Case {
  label: string;
  argv: () => string[];
  /** Run before each timed run (emptying the code cache for a cold start). */
  before?: () => void;
}

function main(): void {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-startup-'));
  try {
    // A root where the guard has nothing to give back: a dax bus, a policy, no hold.
    const root = path.join(work, 'root');
    fs.mkdirSync(path.join(root, 'sys/devices/system/memory'), {recursive: true});
    fs.mkdirSync(path.join(root, 'sys/bus/dax'), {recursive: true});
    fs.writeFileSync(path.join(root, 'sys/devices/system/memory/auto_online_blocks'), 'online\n');
    const state = path.join(work, 'state');
    fs.mkdirSync(state, {mode: 0o700});
    const guardArgs = ['--release-hotplug', '--root', root, '--lock', path.join(work, 'lock'), '--state-dir', state];
    const cold = path.join(work, 'cold');
    const warm = path.join(work, 'warm');
    const empty = () => fs.rmSync(cold, {recursive: true, force: true});
    // The guard cannot write a code cache (its /var is read-only) and a fresh boot has none: both
    // bundles load as plain modules here, the guard's verb run by each one's main().
    const via = (bundle: string) => ['-e', `require(${JSON.stringify(path.join(BUNDLE, bundle))}).main(process.argv.slice(1))`, '--', ...guardArgs];
    const cases: Case[] = [
      {label: 'guard verb, guard bundle (cold)', argv: () => via('daxramd-guard.js')},
      {label: 'guard verb, daxramd bundle (cold)', argv: () => via('daxramd.js')},
      {label: 'daxramd --help (cold)', argv: () => [LAUNCH, '--cache', cold, 'daxramd', '--help'], before: empty},
      {label: 'daxramd --help (warm)', argv: () => [LAUNCH, '--cache', warm, 'daxramd', '--help']},
      {label: 'daxram --version (cold)', argv: () => [LAUNCH, '--cache', cold, 'daxram', '--version'], before: empty},
      {label: 'daxram --version (warm)', argv: () => [LAUNCH, '--cache', warm, 'daxram', '--version']},
    ];
    const anchor = ['-e', '0'];
    // One unrecorded round: page cache, and the warm cases' code cache.
    wallMs(anchor);
    for (const c of cases) {
      c.before?.();
      wallMs(c.argv());
    }
    const rows = cases.map((c) => ({c, ms: [] as number[], ratio: [] as number[]}));
    const anchorMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const row of rows) {
        const a = wallMs(anchor);
        row.c.before?.();
        const m = wallMs(row.c.argv());
        anchorMs.push(a);
        row.ms.push(m);
        row.ratio.push(m / a);
      }
    }
    console.log(`start-up bench: node ${process.version}, ${RUNS} pairs per command with node -e 0 (median ${median(anchorMs).toFixed(0)} ms); ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`);
    console.log(`process.config: node_use_node_code_cache=${String((process.config.variables as Record<string, unknown>).node_use_node_code_cache)}, node_use_node_snapshot=${String((process.config.variables as Record<string, unknown>).node_use_node_snapshot)}`);
    for (const r of rows) console.log(`${r.c.label.padEnd(36)} median ${median(r.ms).toFixed(0).padStart(6)} ms   ratio to node -e 0 (pairwise median) ${median(r.ratio).toFixed(2)}`);
    const g = median(rows[0].ratio);
    const d = median(rows[1].ratio);
    console.log(`guard bundle / daxramd bundle for the guard's verb (ratios to the anchor): ${(g / d).toFixed(2)}`);
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
}

main();

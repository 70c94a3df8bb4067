// The cheap figures no change may regress unnoticed (issue 21), run by `npm test`: the CLI's
// start-up and `daxram list`, each as a ratio to `node -e 0` taken pair by pair in the same run
// (anchor, command, anchor, command, ...), so the figure holds on a loaded or slower machine.
// Each is held to the figure recorded in docs/performance.md's "Held by npm test" table: more
// than 20% above it fails. A figure over the line is measured once more before it fails, since
// one burst of host load can move a median of ten pairs; a real regression stays over.
// Wall time is what the operator waits; CPU (the children's user+system time from
// /proc/self/stat, summed over the runs) is what a box running it from a timer pays.
// Run: npm run bench:regress (after npm run build:js). --json prints the figures as JSON.

import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {build6TiB} from '../test/helpers/fixture';
import {cpuMsOf, median} from './stats';

const CHECKOUT = path.join(__dirname, '..', '..');
const BIN = path.join(CHECKOUT, 'bin', 'daxram');
const DOC = path.join(CHECKOUT, 'docs', 'performance.md');
const PAIRS = Number(process.env.BENCH_RUNS ?? 10);
const SLACK = 1.2;

/** The children's CPU so far (user + system, ms). */
function childrenCpuMs(): number {
  return cpuMsOf(fs.readFileSync('/proc/self/stat', 'utf8'), 'children');
}

function run(argv: string[]): {wall: number; cpu: number} {
  const c0 = childrenCpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, {encoding: 'utf8', maxBuffer: 1 << 28});
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return {wall, cpu: childrenCpuMs() - c0};
}

export interface Figure {
  id: string;
  wall: number;
  cpu: number;
  ms: number;
}

/** Ratios of `argv` to `node -e 0`: the pairwise median of wall times, and summed CPU over summed CPU. */
function measure(id: string, argv: string[]): Figure {
  run(argv); // page cache and the launcher's code cache
  const wall: number[] = [];
  const ms: number[] = [];
  let cpu = 0;
  let anchorCpu = 0;
  for (let i = 0; i < PAIRS; i++) {
    const a = run(['-e', '0']);
    const b = run(argv);
    wall.push(b.wall / a.wall);
    ms.push(b.wall);
    cpu += b.cpu;
    anchorCpu += a.cpu;
  }
  return {id, wall: median(wall), cpu: anchorCpu > 0 ? cpu / anchorCpu : NaN, ms: median(ms)};
}

/** The recorded figures: rows of the table whose first cell is a figure's id in backquotes. */
export function recorded(doc: string): Map<string, {wall: number; cpu: number}> {
  const out = new Map<string, {wall: number; cpu: number}>();
  const start = doc.indexOf('## Held by npm test');
  if (start < 0) return out;
  for (const line of doc.slice(start).split('\n')) {
    const m = /^\| `([a-z0-9-]+)` \|.*\| ([\d.]+) \| ([\d.]+) \|$/.exec(line);
    if (m) out.set(m[1], {wall: Number(m[2]), cpu: Number(m[3])});
  }
  return out;
}

function main(): void {
  const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'daxram-regress-'));
  try {
    const empty = path.join(work, 'empty');
    fs.mkdirSync(path.join(empty, 'sys/bus'), {recursive: true});
    const eighth = build6TiB({dir: path.join(work, 'eighth'), scale: 1 / 8});
    const cases: Array<[string, string[]]> = [
      ['help', [BIN, '--help']],
      ['list-empty', [BIN, 'list', '--root', empty]],
      ['list-768g', [BIN, 'list', '--json', '--root', eighth.root]],
    ];
    const want = recorded(fs.readFileSync(DOC, 'utf8'));
    const over = (f: Figure) => {
      const r = want.get(f.id);
      return r !== undefined && (f.wall > r.wall * SLACK || f.cpu > r.cpu * SLACK);
    };
    const figures = cases.map(([id, argv]) => {
      const f = measure(id, argv);
      return over(f) ? measure(id, argv) : f;
    });
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(figures) + '\n');
    console.log(`regression bench: node ${process.version}, ${PAIRS} pairs with node -e 0 per figure; ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`);
    let failed = 0;
    for (const f of figures) {
      const r = want.get(f.id);
      const verdict = r === undefined ? 'NOT RECORDED' : over(f) ? `REGRESSED (recorded ${r.wall} wall, ${r.cpu} CPU; limit x${SLACK})` : `ok (recorded ${r.wall} wall, ${r.cpu} CPU)`;
      if (r === undefined || over(f)) failed++;
      console.log(`${f.id.padEnd(12)} ${f.ms.toFixed(0).padStart(5)} ms   ratio to node -e 0: wall ${f.wall.toFixed(2)}, CPU ${f.cpu.toFixed(2)}   ${verdict}`);
    }
    if (failed) {
      console.log(`${failed} figure(s) over the record in ${path.relative(CHECKOUT, DOC)}: find what made them slower, or record the new figure there with the reason`);
      process.exitCode = 1;
    }
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
}

if (require.main === module) main();

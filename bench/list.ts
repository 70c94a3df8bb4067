// Times `daxram list --json` over the 6 TiB fixture (49,152 memory blocks of 128 MiB on two
// nodes) and a 1/8-size anchor built and timed in the same run, so the ratio shows whether the
// cost is linear in blocks regardless of how loaded the machine is. Also `node -e 0` as the
// floor every CLI run pays, the same tree with one block per node offline (every block is then
// read one by one: the scan's slow path), and daxramd idle over a minute on the 6 TiB tree
// (RSS and CPU, against an idle `node` as the anchor). Run: npm run bench (after npm run build).
//
// Env: BENCH_RUNS (default 5), BENCH_IDLE_S (default 60), BENCH_DIR (where to build the trees;
// default /dev/shm if it exists — sysfs is an in-memory filesystem, tmpfs is the closest
// stand-in — else os.tmpdir()).

import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {build6TiB, Fixture, writeZoneinfo} from '../test/helpers/fixture';
import {idleDaemon} from './daemon-idle';
import {median} from './stats';

const BIN = path.join(__dirname, '..', '..', 'bin', 'daxram');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Sample {
  ms: number;
  maxRssKiB: number;
}

function once(argv: string[]): Sample {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, {encoding: 'utf8', maxBuffer: 1 << 28});
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  // spawnSync has no rusage of its own child; read it from /usr/bin/time if present, else
  // fall back to a wrapper that reports the child's own resourceUsage.
  return {ms, maxRssKiB: rssOf(argv)};
}

const rssCache = new Map<string, number>();
function rssOf(argv: string[]): number {
  const key = argv.join('\0');
  if (rssCache.has(key)) return rssCache.get(key)!;
  let kib = NaN;
  if (fs.existsSync('/usr/bin/time')) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...argv], {encoding: 'utf8', maxBuffer: 1 << 28});
    const last = r.stderr.trim().split('\n').pop() ?? '';
    if (/^\d+$/.test(last)) kib = Number(last);
  }
  if (Number.isNaN(kib)) {
    // The child reports its own peak RSS at exit (KiB), after the command ran in-process.
    const wrap = `process.on('exit',()=>process.stderr.write('\\nRSS '+process.resourceUsage().maxRSS+'\\n'));process.argv=[process.argv[0],${JSON.stringify(argv[0])},...${JSON.stringify(argv.slice(1))}];require(${JSON.stringify(argv[0])})`;
    const r = spawnSync(process.execPath, ['-e', wrap], {encoding: 'utf8', maxBuffer: 1 << 28});
    const m = /RSS (\d+)/.exec(r.stderr);
    if (m) kib = Number(m[1]);
  }
  rssCache.set(key, kib);
  return kib;
}

function measure(label: string, argv: string[]): {label: string; median: number; min: number; rss: number} {
  once(argv); // warm the page cache and node's compile cache
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(once(argv).ms);
  return {label, median: median(xs), min: Math.min(...xs), rss: rssOf(argv)};
}

async function main(): Promise<void> {
  const base = process.env.BENCH_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  const work = fs.mkdtempSync(path.join(base, 'daxram-bench-'));
  let full: Fixture | undefined;
  let eighth: Fixture | undefined;
  try {
    let t0 = Date.now();
    full = build6TiB({dir: path.join(work, 'full')});
    const buildFull = Date.now() - t0;
    t0 = Date.now();
    eighth = build6TiB({dir: path.join(work, 'eighth'), scale: 1 / 8});
    const buildEighth = Date.now() - t0;

    // Check the output is what it should be before timing it.
    const out = spawnSync(process.execPath, [BIN, 'list', '--json', '--root', full.root], {encoding: 'utf8', maxBuffer: 1 << 28});
    const devs = JSON.parse(out.stdout) as Array<{total_memblocks: number; online_memblocks: number}>;
    const total = devs.reduce((a, d) => a + d.total_memblocks, 0);
    if (total !== full.blocks) throw new Error(`list saw ${total} blocks, the fixture has ${full.blocks}`);

    const floor = measure('node -e 0', ['-e', '0']);
    const a = measure(`list --json, ${eighth.blocks} blocks (1/8)`, [BIN, 'list', '--json', '--root', eighth.root]);
    const b = measure(`list --json, ${full.blocks} blocks (6 TiB)`, [BIN, 'list', '--json', '--root', full.root]);
    // One block per node offline: zoneinfo no longer vouches for whole nodes, every block is read.
    for (const id of [32768 + 16, 65536 + 16]) {
      const st = path.join(full.root, `sys/devices/system/memory/memory${id}/state`);
      if (fs.existsSync(st)) fs.writeFileSync(st, 'offline\n');
    }
    writeZoneinfo(full.root);
    const c = measure(`list --json, ${full.blocks} blocks, mixed`, [BIN, 'list', '--json', '--root', full.root]);
    for (const id of [32768 + 16, 65536 + 16]) {
      const st = path.join(full.root, `sys/devices/system/memory/memory${id}/state`);
      if (fs.existsSync(st)) fs.writeFileSync(st, 'online\n');
    }
    writeZoneinfo(full.root);
    const idle = await idleDaemon(full.root, Number(process.env.BENCH_IDLE_S ?? 60));

    const load = os.loadavg()[0].toFixed(2);
    console.log(`daxram list --json bench: ${RUNS} runs each after one warm-up; ${os.cpus().length} CPUs, load ${load}; trees in ${base}`);
    console.log(`fixture build: 6 TiB ${buildFull} ms, 1/8 ${buildEighth} ms`);
    for (const r of [floor, a, b, c]) {
      console.log(`${r.label.padEnd(40)} median ${r.median.toFixed(0).padStart(6)} ms  min ${r.min.toFixed(0).padStart(6)} ms  peak RSS ${(r.rss / 1024).toFixed(1)} MiB`);
    }
    const perBlockA = (a.median - floor.median) / eighth.blocks;
    const perBlockB = (b.median - floor.median) / full.blocks;
    console.log(`blocks: ${full.blocks}; wall (median): ${b.median.toFixed(0)} ms; peak RSS: ${(b.rss / 1024).toFixed(1)} MiB`);
    console.log(`ratio 6 TiB / (1/8): ${(b.median / a.median).toFixed(2)} (blocks ratio 8); above node startup: ${((b.median - floor.median) / (a.median - floor.median)).toFixed(2)}`);
    console.log(`per block above startup: ${(perBlockA * 1000).toFixed(1)} µs (1/8), ${(perBlockB * 1000).toFixed(1)} µs (6 TiB)`);
    console.log(`target (6 TiB, issue 21): median <= 200 ms ${b.median <= 200 ? 'met' : 'NOT met'}; peak RSS ${(b.rss / 1024).toFixed(1)} MiB`);
    console.log(`slow path (every block read, one block per node offline): ${c.median.toFixed(0)} ms, ratio to the steady state ${(c.median / b.median).toFixed(2)}`);
    console.log(
      `daxramd idle ${idle.seconds} s on the 6 TiB tree: RSS ${(idle.rssKiB / 1024).toFixed(1)} MiB (peak ${(idle.hwmKiB / 1024).toFixed(1)}), ` +
        `CPU ${idle.cpuMs} ms over the idle period (${((idle.cpuMs / (idle.seconds * 1000)) * 100).toFixed(3)} %); ` +
        `anchor idle node: RSS ${(idle.anchorRssKiB / 1024).toFixed(1)} MiB, CPU ${idle.anchorCpuMs} ms; RSS ratio ${(idle.rssKiB / idle.anchorRssKiB).toFixed(2)}; ` +
        `targets (issue 21): idle <= 50 MiB ${idle.rssKiB / 1024 <= 50 ? 'met' : 'NOT met'}, peak <= 80 MiB ${idle.hwmKiB / 1024 <= 80 ? 'met' : 'NOT met'}`,
    );
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
}

void main();

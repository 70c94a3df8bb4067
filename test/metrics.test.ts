import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {Metrics} from '../daemon/daxramd/metrics';
import type {DaxDevice} from '../daemon/model/types';
import {DeviceBlocks} from '../daemon/model/memblock';

const MiB = 1n << 20n;
const blocks = (states: string[]) => states.map((state, i) => ({name: `memory${64 + i}`, id: 64 + i, start: 0n, state, validZones: ['Movable'], node: 1}));

test('capacity by node and state, counters, atomic file', (t) => {
  const m = new Metrics();
  m.setCapacity([
    {name: 'dax0.0', mode: 'system-ram', targetNode: 1, size: 1008n * MiB, memblocks: DeviceBlocks.of(blocks(['online', 'online', 'offline'])), kmemCapacity: 384n * MiB, kmemBlocks: 3} as unknown as DaxDevice,
    {name: 'dax1.0', mode: 'devdax', targetNode: 2, size: 512n * MiB, memblocks: DeviceBlocks.NONE, kmemCapacity: 0n, kmemBlocks: 0} as unknown as DaxDevice,
  ]);
  m.transition('dax0.0', 'ram');
  m.transition('dax0.0', 'ram');
  m.failure('dax1.0', 'online');
  m.poisonIsolated.inc({device: 'dax0.0'}, 2);
  const text = m.render();
  t.regex(text, /^daxram_capacity_bytes\{node="1",state="ram-online"\} 268435456$/m);
  t.regex(text, /^daxram_capacity_bytes\{node="1",state="ram-offline"\} 134217728$/m);
  t.regex(text, /^daxram_capacity_bytes\{node="2",state="devdax"\} 536870912$/m);
  t.regex(text, /^daxram_transitions_total\{device="dax0.0",to="ram"\} 2$/m);
  t.regex(text, /^daxram_failures_total\{device="dax1.0",operation="online"\} 1$/m);
  t.regex(text, /^daxram_poison_isolated_pages_total\{device="dax0.0"\} 2$/m);
  t.regex(text, /^# TYPE daxram_poison_found_total counter$/m);
  // Every sample line is "name{labels} number".
  for (const l of text.trim().split('\n')) if (!l.startsWith('#')) t.regex(l, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-metrics-'));
  const file = m.write(dir);
  t.is(fs.readFileSync(file, 'utf8'), text);
  t.deepEqual(fs.readdirSync(dir), ['daxram.prom']);
});

test('daxram.prom is world-readable whatever the umask (the unit runs with UMask=0077; node_exporter is not root)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-prom-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  // A child process: ava's worker threads may not change the umask.
  const mod = path.join(__dirname, '..', 'daemon', 'daxramd', 'metrics.js');
  const r = spawnSync(process.execPath, ['-e', `process.umask(0o077); console.log(new (require(${JSON.stringify(mod)}).Metrics)().write(${JSON.stringify(dir)}))`], {encoding: 'utf8'});
  t.is(r.status, 0, r.stderr);
  t.is(fs.statSync(r.stdout.trim()).mode & 0o777, 0o644);
});

test('long work in the metrics while it runs (blocks or bytes done and in all), gone when it ends', (t) => {
  const m = new Metrics();
  t.notRegex(m.render(), /daxram_work_/);
  m.work = {device: 'dax0.0', what: 'online', done: 5, total: 16};
  const text = m.render();
  t.regex(text, /^daxram_work_done\{device="dax0\.0",work="online"\} 5$/m);
  t.regex(text, /^daxram_work_total\{device="dax0\.0",work="online"\} 16$/m);
  m.work = undefined;
  t.notRegex(m.render(), /daxram_work_/);
});

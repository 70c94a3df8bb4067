// The zone-balance gate: Movable:Kernel after an online against zone-ratio (refuse, warn, or
// split the excess into Normal), struct pages counted where they go, and a CPU-less node left
// all Movable with neither demotion nor swap; then through the engine on the fixture (a refusal
// writes nothing, a split onlines the lowest blocks Normal and verifies, a dry run shows it).

import test from 'ava';
import {ratioText, zoneBalance, zoneBalanceGate, type ZoneBalanceInput} from '../daemon/policy/zone-balance';
import {makePolicy, parseGateSettings} from '../daemon/policy/settings';
import {online} from '../daemon/engine';
import {PolicyError, UsageError} from '../daemon/errors';
import {GiB, MiB} from './helpers/fixture';
import {blockStates, driver, qemuSpec, testbed} from './helpers/engine-context';

const bs = 128n * MiB;
/** 4 GiB of DRAM on node 0 (CPUs), a memory-only node 1 with nothing yet; 16 blocks (2 GiB) to online there. */
const base: ZoneBalanceInput = {
  device: 'dax0.0',
  nodes: [{node: 0, movable: 0n, kernel: 4n * GiB, cpus: true}, {node: 1, movable: 0n, kernel: 0n, cpus: false}],
  node: 1,
  blocks: 16,
  blockSize: bs,
  zone: 'movable',
  memmapOnDevice: true,
  demotion: true,
  swapBytes: 0n,
  policy: makePolicy(),
};
const gate = (o: Partial<ZoneBalanceInput>, p: Parameters<typeof makePolicy>[0] = {}) => zoneBalanceGate({...base, ...o, policy: makePolicy(p)});

test('ratios as an operator reads them', (t) => {
  t.is(ratioText({movable: 3n * GiB, kernel: 2n * GiB}), '1.5:1');
  t.is(ratioText({movable: GiB, kernel: 0n}), 'all Movable');
  t.is(ratioText({movable: 0n, kernel: GiB}), 'no Movable');
});

test('within the default 3:1 it passes and says the ratio after, in total and on the node', (t) => {
  const g = gate({});
  t.is(g.verdict, 'pass');
  t.regex(g.detail, /after the online 0\.49:1 in total \(no Movable before\), node 1 all Movable, within 3:1/);
  t.is(g.setting, 'zone-ratio=3 zone-balance=refuse cpuless=warn');
});

test('over the ratio: refused with the three ways out; warn lets it through', (t) => {
  const big = {blocks: 128}; // 16 GiB on 4 GiB of DRAM: 4:1
  const r = gate(big);
  t.is(r.verdict, 'refuse');
  t.regex(r.detail, /3\.9:1 in total .* over zone-ratio 3:1/, '16 GiB less its struct pages on 4 GiB');
  t.regex(r.fix ?? '', /--zone normal.*zone-balance=split.*raise zone-ratio/);
  t.is(gate(big, {zoneBalance: 'warn'}).verdict, 'warn');
  t.is(gate(big, {zoneRatio: 4}).verdict, 'pass', '4:1 exactly is within 4');
  t.is(gate(big, {zoneRatio: 0}).verdict, 'pass', 'zone-ratio=0: no limit');
  t.is(gate({...big, zone: 'normal'}).verdict, 'pass', 'Normal only makes the ratio better');
  t.regex(gate({...big, zone: 'auto'}).detail, /the kernel picks/);
});

test('struct pages in DRAM count against the kernel zones', (t) => {
  // 12 GiB exactly 3:1 with struct pages on the device (12 GiB minus 1/64 of it Movable) passes;
  // in DRAM the 192 MiB of struct pages come off the 4 GiB of kernel memory and tip it over.
  t.is(gate({blocks: 96, memmapOnDevice: true}).verdict, 'pass');
  const d = gate({blocks: 96, memmapOnDevice: false});
  t.is(d.verdict, 'refuse');
  t.regex(d.detail, /3\.1:1 in total.*3\.81 GiB left after struct pages/);
});

test('split: the most blocks Movable that keep the total within the ratio, the rest Normal', (t) => {
  const s = gate({blocks: 128}, {zoneBalance: 'split'});
  t.is(s.verdict, 'split');
  // m Movable, 16 GiB - m Normal, struct pages on the device: m(63/64) <= 3 (4 GiB + (16 GiB - m)(63/64)), so m <= 15.05 GiB
  const b = zoneBalance({...base, blocks: 128, policy: makePolicy({zoneBalance: 'split'})});
  t.is(s.movableBlocks, b.movableBlocks);
  t.true(b.total.after.movable * 100n <= 300n * b.total.after.kernel, 'within 3:1 after the split');
  t.is(b.movableBlocks, 120);
  t.regex(s.detail, /120 block\(s\) Movable and 8 Normal \(1\.00 GiB\)/);
  t.is(gate({blocks: 16}, {zoneBalance: 'split'}).movableBlocks, 16, 'within the ratio: nothing split');
});

test('a CPU-less node left all Movable with demotion and swap off: warn by default, refuse or allow as set', (t) => {
  const off = {demotion: false, swapBytes: 0n};
  const w = gate(off);
  t.is(w.verdict, 'warn');
  t.regex(w.detail, /node 1 has no CPUs and would be all Movable while demotion is off and there is no swap/);
  const r = gate(off, {cpuless: 'refuse'});
  t.is(r.verdict, 'refuse');
  t.regex(r.fix ?? '', /tiering = on.*swap.*cpuless=allow/);
  t.is(gate(off, {cpuless: 'allow'}).verdict, 'pass');
  t.is(gate({demotion: true}, {cpuless: 'refuse'}).verdict, 'pass', 'demotion on');
  t.is(gate({demotion: false, swapBytes: GiB}, {cpuless: 'refuse'}).verdict, 'pass', 'swap');
  t.is(gate({...off, nodes: [{node: 0, movable: 0n, kernel: 4n * GiB, cpus: true}, {node: 1, movable: 0n, kernel: 0n, cpus: true}]}, {cpuless: 'refuse'}).verdict, 'pass', 'the node has CPUs');
  t.is(gate({...off, zone: 'normal'}, {cpuless: 'refuse'}).verdict, 'pass', 'Normal memory on the node');
});

test('zone sizes that cannot be read are said, not guessed', (t) => {
  const g = gate({nodes: []});
  t.is(g.verdict, 'warn');
  t.regex(g.detail, /not checked: \/proc\/zoneinfo/);
});

test('zone-ratio is validated', (t) => {
  t.is(parseGateSettings({zoneRatio: '4'}).zoneRatio, 4);
  t.is(parseGateSettings({zoneRatio: '2.5'}).zoneRatio, 2.5);
  for (const bad of ['-1', '64', 'three', '', '1e3']) t.throws(() => parseGateSettings({zoneRatio: bad}), {instanceOf: UsageError, message: /zone-ratio/}, bad);
  t.throws(() => parseGateSettings({zoneBalance: 'ignore'}), {instanceOf: UsageError});
});

// The fixture host: 4 GiB of Normal DRAM on node 0; dax0.0 is 7 blocks (896 MiB) on node 1.
test('engine: a refusal by zone-ratio writes nothing', async (t) => {
  const tb = testbed(qemuSpec(), {policy: makePolicy({zoneRatio: 0.1})});
  t.teardown(tb.cleanup);
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: PolicyError});
  t.is(e?.code, 'GATE_ZONE_BALANCE');
  t.is(e?.device, 'dax0.0');
  t.is(driver(tb.k), 'device_dax');
});

test('engine: zone-balance=split onlines the lowest blocks Normal and the rest Movable, and verifies', async (t) => {
  const tb = testbed(qemuSpec(), {policy: makePolicy({zoneRatio: 0.1, zoneBalance: 'split'})});
  t.teardown(tb.cleanup);
  const dry = await online({...tb.ctx, dryRun: true}, 'dax0.0');
  const g = dry.plan.gates.find((x) => x.gate === 'zone-balance')!;
  t.is(g.verdict, 'split');
  const r = await online(tb.ctx, 'dax0.0');
  const states = blockStates(tb.k);
  const normal = states.filter((s) => s === 'online:Normal').length;
  t.true(normal > 0 && normal < states.length, states.join(' '));
  t.deepEqual(states, [...Array(normal).fill('online:Normal'), ...Array(states.length - normal).fill('online:Movable')]);
  t.regex(g.detail, new RegExp(`${states.length - normal} block\\(s\\) Movable and ${normal} Normal`));
  t.true(r.blocks.every((b) => b.state === 'online'));
});

// The scrub-and-clear pipeline against the mock binding: every branch the kernel and firmware
// can take (busy, in progress, no ARS, interrupted + overflow, short returns, partial clears,
// EPERM, ENOTTY) and the state each leaves behind (records found, clears issued, badblocks).

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {buildFixture, Fixture, GiB, MiB, NFIT_TEST_COMMANDS, QEMU_NFIT_COMMANDS} from './helpers/fixture';
import {FakeClock, MockNative, MockOptions} from './helpers/mock-native';
import {scanPlatform} from '../daemon/model/scan';
import {scrubDevice, targetOf, ScrubTarget, ScrubOptions} from '../daemon/scrub/pipeline';
import {planClears} from '../daemon/scrub/clear';
import {KernelError} from '../daemon/errors';
import {NdBusHandle} from '../daemon/ndctl';
import {normalize, subtract} from '../daemon/util/ranges';
import {parsePoisonEvent, poisonInRegion} from '../daemon/scrub/cxl';

const REGION = 4n * GiB;

interface Lab {
  fx: Fixture;
  target: ScrubTarget;
  /** Physical start of the dax device's data. */
  base: bigint;
  bbPath: string;
  scrubPath: string;
}

function lab(t: {teardown(fn: () => void): void}, opts: {commands?: string[]; badblocks?: Array<[number, number]>} = {}): Lab {
  const fx = buildFixture({
    buses: [
      {
        provider: 'nfit_test.0',
        commands: opts.commands ?? NFIT_TEST_COMMANDS,
        regions: [{start: REGION, size: 64n * MiB, badblocks: opts.badblocks ?? [], namespaces: [{mode: 'devdax', size: 32n * MiB, align: 4096n}]}],
      },
    ],
  });
  t.teardown(fx.cleanup);
  fs.mkdirSync(fx.path('/dev'), {recursive: true});
  fs.writeFileSync(fx.path('/dev/ndctl0'), '');
  const dev = scanPlatform(fx.sysfs).devices[0];
  const target = targetOf(dev);
  return {
    fx,
    target,
    base: dev.ranges[0].start,
    bbPath: fx.path('/sys/bus/nd/devices/region0/badblocks'),
    scrubPath: fx.path('/sys/bus/nd/devices/ndbus0/nfit/scrub'),
  };
}

async function run(l: Lab, mo: MockOptions, so: Partial<ScrubOptions> = {}) {
  const clock = mo.clock ?? new FakeClock();
  const m = new MockNative({...mo, clock});
  const progress: string[] = [];
  const r = await scrubDevice(m, l.fx.sysfs, l.target, {clear: true, clock, onProgress: (p) => progress.push(p.phase), ...so});
  return {m, r, progress, clock};
}

test('planClears widens to whole sectors and keeps clears inside the device', (t) => {
  const within = {start: 0x10000n, size: 0x10000n};
  // Straddles the 256 B clear unit boundary at +0x200 and the sector boundary at +0x200.
  const p = planClears([{start: 0x10000n + 0x1c0n, size: 0x80n}], within, 256n);
  t.deepEqual(p.clears, [{start: 0x10000n, size: 0x400n}]);
  t.is(p.unit, 512n);
  // At the device's start edge the sector widening would leave the range: fall back to 256 B.
  const edge = planClears([{start: 0x10100n, size: 0x80n}], {start: 0x10100n, size: 0x1000n}, 256n);
  t.deepEqual(edge.clears, [{start: 0x10100n, size: 0x100n}]);
  // Poison reaching past the device's end is cleared up to the end and the rest reported.
  const tail = planClears([{start: 0x1ff00n, size: 0x200n}], within, 256n);
  t.deepEqual(tail.clears, [{start: 0x1fe00n, size: 0x200n}]);
  // Poison outside the device is not ours to clear.
  t.deepEqual(planClears([{start: 0x0n, size: 0x100n}], within, 256n).clears, []);
  // Neighbouring records merge into one ioctl.
  t.deepEqual(planClears([{start: 0x10000n, size: 0x10n}, {start: 0x10200n, size: 0x10n}], within, 256n).clears, [{start: 0x10000n, size: 0x400n}]);
});

test('finds, clears and verifies poison from ARS records and region badblocks', async (t) => {
  const l = lab(t, {badblocks: [[Number((0x4000n + 0x200000n) / 512n), 1]]});
  // One record straddling a clear_err_unit boundary, one whole sector, one from badblocks only.
  const bbOnly = REGION + 0x4000n + 0x200000n;
  t.true(bbOnly >= l.base && bbOnly < l.base + l.target.ranges[0].size);
  const poison = [
    {start: l.base + 0x1000n + 200n, size: 100n},
    {start: l.base + 0x8000n, size: 512n},
  ];
  const {m, r} = await run(l, {poison, badblocks: {path: l.bbPath, regionStart: REGION}});
  t.true(r.scrubSupported);
  t.is(r.clearErrUnit, 256);
  t.deepEqual(r.foundByArs, poison);
  t.deepEqual(r.foundInBadblocks, [{start: bbOnly, size: 512n}]);
  t.is(r.found.length, 3);
  t.deepEqual(r.planned, [
    {start: l.base + 0x1000n, size: 512n},
    {start: l.base + 0x8000n, size: 512n},
    {start: bbOnly, size: 512n},
  ]);
  t.deepEqual(r.cleared, r.planned);
  t.deepEqual(r.remaining, []);
  t.true(r.verified);
  t.deepEqual(m.poison, []);
  t.is(fs.readFileSync(l.bbPath, 'utf8').trim(), '');
  t.is(r.ars.length, 2, 'a scrub and a verification scrub');
  // Every CLEAR_ERROR was aligned to clear_err_unit.
  for (const [, a, len] of m.callsOf('clearError') as bigint[][]) t.is(a % 256n + len % 256n, 0n);
  t.false(r.waitedForKernelScrub);
});

test('EBUSY from ARS_START: waits for the kernel scrub on nfit/scrub (poll), then scrubs', async (t) => {
  const l = lab(t);
  const {m, r, progress} = await run(l, {
    poison: [{start: l.base, size: 512n}],
    kernelScrub: {attrPath: l.scrubPath, count: 3, pollsUntilDone: 3},
  });
  t.true(r.waitedForKernelScrub);
  t.is(r.ars[0].kernelScrubBusy, 1);
  t.true(r.kernelScrubWaitMs > 0);
  t.is(m.callsOf('pollPri').length, 3);
  t.is(fs.readFileSync(l.scrubPath, 'utf8'), '4\n');
  t.true(progress.includes('kernel-scrub-wait'));
  t.true(r.verified);
});

test('in-progress status and firmware-busy starts are waited out', async (t) => {
  const l = lab(t);
  const {m, r} = await run(l, {poison: [{start: l.base + 4096n, size: 512n}], inProgressPolls: 4, startBusy: 2});
  t.is(r.ars[0].firmwareBusy, 2);
  t.is(r.ars[0].polls, 5);
  t.is(m.callsOf('arsStart').length, 2 + 1 + 1);
  t.true(r.verified);
});

test('no ARS this boot: the scrub is started again', async (t) => {
  const l = lab(t);
  const {r} = await run(l, {poison: [{start: l.base, size: 256n}], noArs: 1}, {clear: false});
  t.is(r.ars[0].restarts, 1);
  t.is(r.ars[0].starts, 2);
  t.deepEqual(r.found, [{start: l.base, size: 256n}]);
  t.deepEqual(r.remaining, r.found);
  t.deepEqual(r.cleared, []);
});

test('interrupted with overflow: continues from restart_address and keeps both halves', async (t) => {
  const l = lab(t);
  const at = l.base + 0x100000n;
  const poison = [
    {start: l.base + 0x1000n, size: 512n},
    {start: at - 256n, size: 1024n}, // cut by the interruption
    {start: at + 0x2000n, size: 512n},
  ];
  const {m, r} = await run(l, {poison, interruptAt: at}, {clear: false});
  t.is(r.ars[0].interrupted, 1);
  t.is(r.ars[0].overflows, 1);
  const starts = m.callsOf('arsStart');
  t.is(starts[1][1], at, 'second start at restart_address');
  t.is(starts[1][2], l.base + l.target.ranges[0].size - at);
  t.deepEqual(r.foundByArs, normalize(poison));
});

test('short returns: unusable headers are polled again, truncated records continue after the last', async (t) => {
  const l = lab(t);
  const poison = [0, 1, 2, 3].map((i) => ({start: l.base + BigInt(i) * 0x10000n, size: 512n}));
  const {m, r} = await run(l, {poison, shortHeaders: 2, truncateTo: 2}, {clear: false});
  t.is(r.ars[0].shortReturns, 3);
  t.deepEqual(r.foundByArs, poison);
  t.is(m.callsOf('arsStart')[1][1], poison[1].start + 512n);
});

test('partial clears continue from where the firmware stopped; a stuck clear is a failure', async (t) => {
  const l = lab(t);
  const poison = [{start: l.base, size: 2048n}];
  const ok = await run(l, {poison, clearLimit: 512n});
  t.is(ok.m.callsOf('clearError').length, 4);
  t.true(ok.r.verified);

  const stuck = await run(l, {poison, clearLimit: 0n});
  t.is(stuck.r.failed.length, 1);
  t.deepEqual(stuck.r.cleared, []);
  t.false(stuck.r.verified);
  t.deepEqual(stuck.r.remaining, poison);
});

test('dry run plans CLEAR_ERROR ioctls and issues none', async (t) => {
  const l = lab(t);
  const {m, r} = await run(l, {poison: [{start: l.base + 300n, size: 10n}]}, {dryRun: true});
  t.true(r.dryRun);
  t.is(m.callsOf('clearError').length, 0);
  t.deepEqual(r.ioctls, [{ioctl: 'ND_IOCTL_CLEAR_ERROR', dev: '/dev/ndctl0', address: l.base, length: 512n}]);
  t.deepEqual(r.remaining, r.found);
});

test('a bus without ARS commands (QEMU NFIT) reports scrub unsupported and issues no ioctl', async (t) => {
  const l = lab(t, {commands: QEMU_NFIT_COMMANDS, badblocks: [[Number((0x200000n + 0x1000n) / 512n), 1]]});
  const {m, r} = await run(l, {});
  t.false(r.scrubSupported);
  t.regex(r.reason!, /does not implement ars_cap/);
  t.is(m.calls.length, 0);
  // The kernel's badblocks are still reported as remaining poison.
  t.is(r.remaining.length, 1);
});

test('ENOTTY on ARS_CAP and a firmware without persistent scrub are "unsupported", not errors', async (t) => {
  const l = lab(t);
  const a = await run(l, {fail: {arsCap: 'ENOTTY'}});
  t.false(a.r.scrubSupported);
  t.regex(a.r.reason!, /ENOTTY/);
  const b = await run(l, {capTypes: 1});
  t.false(b.r.scrubSupported);
  t.regex(b.r.reason!, /persistent/);
  const c = await run(l, {capStatus: 1});
  t.false(c.r.scrubSupported);
});

test('hmem/CXL device with no bus: unsupported with the reason', async (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: 1n * GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  const dev = scanPlatform(fx.sysfs).devices[0];
  const m = new MockNative();
  const r = await scrubDevice(m, fx.sysfs, targetOf(dev), {clear: true, clock: new FakeClock()});
  t.false(r.scrubSupported);
  t.regex(r.reason!, /no NVDIMM bus/);
});

test('EPERM on a read-only fd names the bus and the device', async (t) => {
  const l = lab(t);
  const m = new MockNative();
  const h = NdBusHandle.open(m, l.fx.path('/dev/ndctl0'), {readOnly: true, device: 'dax0.0'});
  t.teardown(() => h.close());
  const e = await t.throwsAsync(h.arsStart(l.base, 4096n, 2), {instanceOf: KernelError});
  t.is(e!.code, 'EPERM');
  t.is(e!.device, 'dax0.0');
  t.regex(e!.message, /ARS_START on dax0\.0/);
  t.regex(e!.fix!, /read-write/);
  // Reading is allowed read-only.
  await t.notThrowsAsync(h.arsCap(l.base, 4096n));
});

test('EPERM from CLEAR_ERROR stops the run with a typed error', async (t) => {
  const l = lab(t);
  const e = await t.throwsAsync(run(l, {poison: [{start: l.base, size: 512n}], fail: {clearError: 'EPERM'}}), {instanceOf: KernelError});
  t.is(e!.code, 'EPERM');
  t.is(e!.device, 'dax0.0');
});

test('a scrub that never finishes times out with ETIMEDOUT naming the device', async (t) => {
  const l = lab(t);
  const e = await t.throwsAsync(run(l, {inProgressPolls: 1e9}, {timeoutMs: 60_000}), {instanceOf: KernelError});
  t.is(e!.code, 'ETIMEDOUT');
  t.is(e!.device, 'dax0.0');
});

test('a scrub cancelled (daxramd stopping) ends at its next wait with ECANCELED, without waiting for the firmware', async (t) => {
  const l = lab(t);
  const ac = new AbortController();
  const clock = new FakeClock();
  let polls = 0;
  const p = run(l, {inProgressPolls: 1e9, clock}, {timeoutMs: 3600_000, signal: ac.signal, onProgress: () => {
    if (++polls === 3) ac.abort();
  }});
  const e = await t.throwsAsync(p);
  t.is((e as {code?: string}).code, 'ECANCELED');
  t.regex(e!.message, /dax0\.0: scrub cancelled \(daxramd is stopping\)/);
  t.true(clock.now() < 3600_000, 'ended long before its timeout');
});

test('injectError sends NFIT ARS inject through ND_CMD_CALL', async (t) => {
  const l = lab(t);
  const m = new MockNative();
  const h = NdBusHandle.open(m, l.fx.path('/dev/ndctl0'), {device: 'dax0.0'});
  t.teardown(() => h.close());
  t.is(await h.injectError(l.base + 100n, 300n), 0);
  const [, family, command, input, out] = m.callsOf('ndCall')[0] as [number, number, number, Buffer, number];
  t.is(family, 0);
  t.is(command, 7);
  t.is(input.length, 17);
  t.is(out, 4);
  t.deepEqual(m.poison, [{start: l.base + 100n, size: 300n}]);
  t.deepEqual(subtract(m.poison, [{start: l.base, size: 4096n}]), []);
  void path;
});

test('CXL poison events: parsed from the trace line, kept only where the region maps them', (t) => {
  const line = '              sh-177     [000] .....     9.613859: cxl_poison: memdev=mem0 host=0000:0d:00.0 serial=4096 trace_type=List region=region0 region_uuid=00000000-0000-0000-0000-000000000000 hpa=0x590002040 dpa=0x2040 dpa_length=0x40 source=Injected flags= overflow_time=0';
  const r = parsePoisonEvent(line)!;
  t.like(r, {memdev: 'mem0', dpa: 0x2040n, length: 0x40n, hpa: 0x590002040n, region: 'region0', source: 'Injected', type: 'List'});
  const unmapped = parsePoisonEvent(line.replace('hpa=0x590002040', 'hpa=0xffffffffffffffff').replace('region=region0', 'region='))!;
  t.is(unmapped.hpa, undefined);
  t.is(parsePoisonEvent('   kworker: sched_switch: prev=a next=b'), undefined);
  const region = {name: 'region0', resource: 0x590000000n, size: 1n << 30n};
  t.deepEqual(poisonInRegion([r, unmapped, {...r, region: 'region1'}], region), [{start: 0x590002040n, size: 0x40n}]);
});

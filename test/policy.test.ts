// Every gate, its safe default and each setting, as unit results and through the engine
// (a refusal writes nothing; isolate hard-offlines exactly the poisoned pages and verifies).

import test from 'ava';
import {evaluateGates, poisonPages, type GateInput} from '../daemon/policy/gates';
import {DEFAULT_POLICY, makePolicy, parseGateSettings} from '../daemon/policy/settings';
import {badblocksPoison, dimmSecurity} from '../daemon/policy/sources';
import {online} from '../daemon/engine';
import {readDax} from '../daemon/model/dax';
import {KernelError, PolicyError, UsageError} from '../daemon/errors';
import {GiB} from './helpers/fixture';
import {blockStates, driver, qemuSpec, testbed} from './helpers/engine-context';

const dev = {name: 'dax0.0', origin: {real: '', kind: 'nvdimm' as const, region: 'region0'}};
const clean: GateInput = {
  dev,
  policy: makePolicy(),
  poison: {scrubSupported: true, found: [], cleared: [], remaining: [], source: 'ars'},
  mce: {serP: true, source: 'msr'},
  security: [{dimm: 'nmem0', state: 'unlocked'}],
};
const verdict = (i: Partial<GateInput>, gate: string) => evaluateGates({...clean, ...i}).find((g) => g.gate === gate)!;

test('defaults are the safe choices', (t) => {
  t.deepEqual({...DEFAULT_POLICY}, {poison: 'refuse', mceRecovery: 'refuse', security: 'warn', unscanned: 'warn', memmap: 'device', zoneRatio: 3, zoneBalance: 'refuse', cpuless: 'warn', reserved: []});
  t.true(evaluateGates(clean).every((g) => g.verdict === 'pass'));
  t.deepEqual(evaluateGates(clean).map((g) => g.gate), ['reserved', 'poison-scan', 'residual-poison', 'mce-recovery', 'dimm-security']);
});

test('policy settings are validated', (t) => {
  t.throws(() => parseGateSettings({poison: 'ignore'}), {instanceOf: UsageError, message: /poison: "ignore" is not one of refuse, online-and-isolate/});
  t.throws(() => parseGateSettings({bogus: 'x'} as never), {instanceOf: UsageError});
  t.is(makePolicy({mceRecovery: 'warn'}).mceRecovery, 'warn');
});

test('residual poison: refuse by default, isolate lists every touched 4 KiB page', (t) => {
  const poison = {...clean.poison, remaining: [{start: 8n * GiB + 0x5100n, size: 0x1000n}]};
  const r = verdict({poison}, 'residual-poison');
  t.is(r.verdict, 'refuse');
  t.regex(r.detail, /still has poison at 0x200005100\+4096 \(2 page/);
  t.regex(r.fix!, /online-and-isolate/);
  const i = verdict({poison, policy: makePolicy({poison: 'online-and-isolate'})}, 'residual-poison');
  t.is(i.verdict, 'isolate');
  t.deepEqual(i.pages, [8n * GiB + 0x5000n, 8n * GiB + 0x6000n]);
  t.deepEqual(poisonPages([{start: 0n, size: 1n}, {start: 10n, size: 1n}]), [0n]);
});

test('machine-check recovery: absent or unknown refuses by default, warn when set', (t) => {
  t.is(verdict({mce: {serP: false, source: 'msr'}}, 'mce-recovery').verdict, 'refuse');
  const u = verdict({mce: {serP: undefined, source: '/dev/cpu/0/msr is absent'}}, 'mce-recovery');
  t.is(u.verdict, 'refuse');
  t.regex(u.detail, /unknown: \/dev\/cpu\/0\/msr is absent/);
  t.is(verdict({mce: {serP: undefined, source: 'x'}, policy: makePolicy({mceRecovery: 'warn'})}, 'mce-recovery').verdict, 'warn');
});

test('DIMM security: warn by default, refuse or ignore when set, pass when unlocked or no DIMMs', (t) => {
  const security = [{dimm: 'nmem0', state: 'disabled'}, {dimm: 'nmem1', state: 'unlocked'}];
  const w = verdict({security}, 'dimm-security');
  t.is(w.verdict, 'warn');
  t.regex(w.detail, /nmem0 \(disabled\)/);
  t.notRegex(w.detail, /nmem1/);
  t.is(verdict({security, policy: makePolicy({security: 'refuse'})}, 'dimm-security').verdict, 'refuse');
  t.is(verdict({security, policy: makePolicy({security: 'ignore'})}, 'dimm-security').verdict, 'pass');
  t.is(verdict({security: []}, 'dimm-security').verdict, 'pass');
});

test('reserved: by device, region or uuid; nfit_test buses are always reserved', (t) => {
  for (const r of ['dax0.0', 'region0', 'abc-uuid']) {
    t.is(verdict({policy: makePolicy({reserved: [r]}), uuids: ['abc-uuid']}, 'reserved').verdict, 'refuse', r);
  }
  // A reservation from the config names its file and line, and the fix is there.
  const fromConfig = {...makePolicy({reserved: ['ABC-UUID']}), reservedBy: {'ABC-UUID': '/etc/daxram/daxram.conf:7 [device trace]'}};
  const c = verdict({policy: fromConfig, uuids: ['abc-uuid']}, 'reserved');
  t.is(c.verdict, 'refuse', 'uuids compare case-insensitively');
  t.regex(c.detail, /reserved \(by \/etc\/daxram\/daxram\.conf:7 \[device trace\]\)/);
  t.regex(c.fix!, /change its mode in \/etc\/daxram\/daxram\.conf:7/);
  t.is(verdict({policy: makePolicy({reserved: ['dax1.0']})}, 'reserved').verdict, 'pass');
  const n = verdict({provider: 'nfit_test.0'}, 'reserved');
  t.is(n.verdict, 'refuse');
  t.regex(n.detail, /not real memory/);
});

test('sources: region badblocks clipped to the device, DIMM security from the region mapping', (t) => {
  const spec = qemuSpec();
  spec.buses![0].dimms = [{security: 'disabled'}];
  // sector 2_000_000 = 976.5 MiB into the region: inside the 1 GiB namespace's data area.
  spec.buses![0].regions![0].badblocks = [[2_000_000, 8], [4_000_000, 8]];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  const d = readDax(tb.k, 'dax0.0');
  return badblocksPoison(tb.k)(d).then((p) => {
    t.deepEqual(p.remaining, [{start: 8n * GiB + 2_000_000n * 512n, size: 4096n}]);
    t.deepEqual(dimmSecurity(tb.k, d), [{dimm: 'nmem0', state: 'disabled'}]);
  });
});

test('engine: every refusing gate stops before any write and names the gate', async (t) => {
  const cases: Array<[string, Parameters<typeof testbed>[1], RegExp]> = [
    ['reserved', {policy: {reserved: ['dax0.0']}}, /reserved gate/],
    ['poison', {poison: {remaining: [{start: 8n * GiB + (200n << 20n), size: 4096n}]}}, /residual-poison gate/],
    ['mce absent', {serP: false}, /mce-recovery gate/],
    ['mce unknown', {serP: undefined}, /mce-recovery gate/],
  ];
  for (const [name, o, re] of cases) {
    const tb = testbed(qemuSpec(), o);
    t.teardown(tb.cleanup);
    const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: PolicyError}, name);
    t.regex(e!.message, re, name);
    t.is(e!.device, 'dax0.0');
    t.is(tb.k.writes.length, 0, name);
    t.is(driver(tb.k), 'device_dax', name);
  }
});

test('engine: dry-run reports refusing gates without throwing', async (t) => {
  const tb = testbed(qemuSpec(), {serP: undefined, dryRun: true});
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  t.is(r.plan.gates.find((g) => g.gate === 'mce-recovery')!.verdict, 'refuse');
});

test('engine: security=warn onlines and reports the warning; security=refuse stops', async (t) => {
  const spec = qemuSpec();
  spec.buses![0].dimms = [{security: 'disabled'}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  t.true(r.warnings.some((w) => /dimm-security/.test(w)));
  t.is(driver(tb.k), 'kmem');
  const tb2 = testbed(spec, {policy: {security: 'refuse'}});
  t.teardown(tb2.cleanup);
  await t.throwsAsync(online(tb2.ctx, 'dax0.0'), {instanceOf: PolicyError, message: /dimm-security/});
  t.is(tb2.k.writes.length, 0);
});

test('engine: online-and-isolate hard-offlines exactly the poisoned pages after online and checks HardwareCorrupted', async (t) => {
  const p1 = 8n * GiB + (300n << 20n) + 0x3000n;
  const p2 = 8n * GiB + (600n << 20n);
  const tb = testbed(qemuSpec(), {policy: {poison: 'online-and-isolate'}, poison: {remaining: [{start: p1, size: 512n}, {start: p2, size: 8192n}]}});
  t.teardown(tb.cleanup);
  const before = tb.k.hardwareCorrupted();
  const r = await online(tb.ctx, 'dax0.0');
  const hw = tb.k.writes.filter((w) => w.path === '/sys/devices/system/memory/hard_offline_page').map((w) => w.value);
  t.deepEqual(hw, ['0x' + p1.toString(16), '0x' + p2.toString(16), '0x' + (p2 + 4096n).toString(16)]);
  const lastOnline = tb.k.writes.map((w) => w.path.endsWith('/state')).lastIndexOf(true);
  const firstHw = tb.k.writes.findIndex((w) => w.path.endsWith('hard_offline_page'));
  t.true(lastOnline < firstHw, 'pages are isolated after the blocks are online');
  t.is(tb.k.hardwareCorrupted() - before, 3 * 4096);
  t.deepEqual(r.isolated, hw);
  t.is(r.hardwareCorrupted!.after - r.hardwareCorrupted!.before, 3n * 4096n);
});

test('engine: isolate that the kernel does not confirm is an error and the device goes back to devdax', async (t) => {
  const tb = testbed(qemuSpec(), {policy: {poison: 'online-and-isolate'}, poison: {remaining: [{start: 8n * GiB + (300n << 20n), size: 4096n}]}});
  t.teardown(tb.cleanup);
  tb.k.silentPoison = true;
  await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: KernelError, message: /not confirmed: HardwareCorrupted/});
  t.is(driver(tb.k), 'device_dax');
  t.true(blockStates(tb.k).every((s) => s === 'absent'));
});

test('poison-scan: memory that cannot be scanned warns by default, refuses with unscanned=refuse', (t) => {
  const unscanned = {scrubSupported: false, found: [], cleared: [], remaining: [], source: 'none (soft-reserved)'};
  const w = verdict({poison: unscanned}, 'poison-scan');
  t.is(w.verdict, 'warn');
  t.regex(w.detail, /cannot be scanned for poison \(none \(soft-reserved\)\)/);
  const r = verdict({poison: unscanned, policy: makePolicy({unscanned: 'refuse'})}, 'poison-scan');
  t.is(r.verdict, 'refuse');
  t.regex(r.fix!, /unscanned=warn/);
  t.is(verdict({}, 'poison-scan').verdict, 'pass');
});

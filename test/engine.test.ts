// The onlining engine against a fake 6.1 kernel: the happy paths, every kernel error path
// (EBUSY, EINVAL, ENXIO, EHWPOISON) with the state left behind, dry runs, and the cases kmem
// itself refuses (target_node -1, smaller than a block).

import test from 'ava';
import * as fs from 'node:fs';
import {online, offline, describePlan, Journal, recover} from '../daemon/engine';
import {onliningUdevRules} from '../daemon/engine/udev-rules';
import {KernelError, UsageError} from '../daemon/errors';
import {listMemBlockIds, readBlockState} from '../daemon/model/memblock';
import {GiB, MiB} from './helpers/fixture';
import {blockStates, driver, qemuSpec, testbed} from './helpers/engine-context';

const ALL_MOVABLE = (n: number) => Array(n).fill('online:Movable');

test('online: unbind device_dax, kmem new_id, online_movable every block; verified and journal cleared', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  t.is(driver(tb.k), 'kmem');
  t.deepEqual(blockStates(tb.k), ALL_MOVABLE(r.blocks.length));
  t.true(r.blocks.length >= 6);
  t.is(r.bytes, BigInt(r.blocks.length) * 128n * MiB);
  t.true(r.blocks.every((b) => b.by === 'daxram' && b.node === 1 && b.zone === 'Movable'));
  const w = tb.k.writes.map((x) => `${x.value} > ${x.path}`);
  t.is(w[0], 'dax0.0 > /sys/bus/dax/drivers/device_dax/unbind');
  t.is(w[1], 'dax0.0 > /sys/bus/dax/drivers/kmem/new_id');
  // new_id probed it: bind is skipped (read before write).
  t.false(w.some((x) => x.endsWith('kmem/bind')));
  t.is(w.filter((x) => /^online_movable > \/sys\/devices\/system\/memory\/memory\d+\/state$/.test(x)).length, r.blocks.length);
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
  t.false(fs.existsSync(`${tb.ctx.stateDir}/journal.json`));
});

test('a block onlined by someone else (udev, the kernel) after kmem hot-adds it: the write is refused, the block re-read and reported as theirs, the run completes', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  let first: string | undefined;
  tb.ctx.afterStep = (mark) => {
    if (mark !== 'bind') return;
    const id = Math.min(...listMemBlockIds(tb.k).filter((n) => readBlockState(tb.k, n) === 'offline'));
    first = `memory${id}`;
    tb.k.writeAttr(`/sys/devices/system/memory/${first}`, first, 'state', 'online_kernel');
  };
  const r = await online(tb.ctx, 'dax0.0');
  t.truthy(first);
  t.deepEqual(r.blocks.filter((b) => b.by === 'kernel').map((b) => b.name), [first]);
  t.true(r.blocks.every((b) => b.state === 'online'));
  t.true(r.warnings.some((w) => /1 block\(s\) were already onlined by the kernel or udev/.test(w)));
  // Written once by the other writer, attempted once by daxram (refused with EINVAL, not fatal).
  t.is(tb.k.writes.filter((w) => w.path === `/sys/devices/system/memory/${first}/state`).length, 2);
});

test('online --zone normal writes online_kernel; --zone auto writes online', async (t) => {
  for (const [zone, value, z] of [['normal', 'online_kernel', 'Normal'], ['auto', 'online', 'Normal']] as const) {
    const tb = testbed();
    t.teardown(tb.cleanup);
    const r = await online(tb.ctx, 'dax0.0', {zone});
    t.true(tb.k.writes.some((w) => w.value === value && w.path.endsWith('/state')));
    t.true(r.blocks.every((b) => b.zone === z));
  }
});

test('online is idempotent: a second run writes nothing', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0');
  const n = tb.k.writes.length;
  const r = await online(tb.ctx, 'dax0.0');
  t.is(tb.k.writes.length, n);
  t.true(r.blocks.every((b) => b.state === 'online'));
});

test('dry-run: exact plan, nothing written, no journal', async (t) => {
  const tb = testbed(qemuSpec(), {dryRun: true});
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  t.is(tb.k.writes.length, 0);
  t.is(driver(tb.k), 'device_dax');
  t.false(fs.existsSync(tb.ctx.stateDir));
  const text = describePlan(r.plan);
  t.regex(text, /write "dax0\.0" > \/sys\/bus\/dax\/drivers\/device_dax\/unbind/);
  t.regex(text, /write "dax0\.0" > \/sys\/bus\/dax\/drivers\/kmem\/bind/);
  t.regex(text, /write "online_movable" > \/sys\/devices\/system\/memory\/memory65\/state/);
  t.regex(text, /lost to alignment/);
  for (const g of ['reserved', 'residual-poison', 'mce-recovery', 'dimm-security']) t.true(text.includes(g), g);
  const off = await offline(tb.ctx, 'dax0.0');
  t.is(off.plan.steps.length, 0, 'a devdax device has nothing to offline');
});

test('offline: every block offline before kmem unbind, device_dax back, device zeroed', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0');
  tb.k.writes.length = 0;
  t.false(fs.existsSync(tb.k.fx.path('/dev/dax0.0')), 'no chardev while kmem holds it');
  tb.k.scribble('dax0.0', 300 << 20);
  t.true(tb.k.nonZero('dax0.0') > 4096);
  const r = await offline(tb.ctx, 'dax0.0');
  t.is(driver(tb.k), 'device_dax');
  t.true(blockStates(tb.k).every((s) => s === 'absent'));
  t.false(tb.k.stranded);
  const unbindAt = tb.k.writes.findIndex((w) => w.path.endsWith('kmem/unbind'));
  const offlines = tb.k.writes.map((w, i) => [w, i] as const).filter(([w]) => w.value === 'offline');
  t.is(offlines.length, r.blocks.length);
  t.true(offlines.every(([, i]) => i < unbindAt));
  t.is(tb.k.nonZero('dax0.0'), 0);
  const size = tb.k.readBig('/sys/bus/dax/devices/dax0.0/size');
  t.is(tb.zeroCalls.reduce((a, c) => a + c.length, 0n), size);
  t.true(tb.zeroCalls.every((c) => c.offset % (2n * MiB) === 0n && c.length % (2n * MiB) === 0n), 'chunks honour the align');
  t.is(r.zeroed, size);
});

test('offline EBUSY: retried within the bound, then succeeds', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0');
  tb.k.fail(/memory66\/state$/, 'EBUSY', 2, 'offline');
  await offline(tb.ctx, 'dax0.0', {busyDelayMs: 0});
  t.is(driver(tb.k), 'device_dax');
  t.is(tb.k.writes.filter((w) => w.path.endsWith('memory66/state') && w.value === 'offline').length, 3);
  t.true(tb.warnings.some((w) => /busy going offline, retry 2\/5/.test(w)));
});

test('offline EBUSY for good: KernelError naming device and block; kmem never unbound; blocks back online', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const on = await online(tb.ctx, 'dax0.0');
  tb.k.fail(/memory68\/state$/, 'EBUSY', Infinity, 'offline');
  const e = await t.throwsAsync(offline(tb.ctx, 'dax0.0', {busyRetries: 2, busyDelayMs: 0}), {instanceOf: KernelError});
  t.is(e!.code, 'EBUSY');
  t.is(e!.device, 'dax0.0');
  t.regex(e!.message, /memory68/);
  t.regex(e!.fix!, /movable/);
  t.false(tb.k.writes.some((w) => w.path.endsWith('kmem/unbind')));
  t.false(tb.k.stranded);
  t.is(driver(tb.k), 'kmem');
  t.deepEqual(blockStates(tb.k), ALL_MOVABLE(on.blocks.length));
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
});

test('never unbinds kmem while a block is online (a block that ignores offline)', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0');
  tb.k.stuckBlocks.add(67);
  const e = await t.throwsAsync(offline(tb.ctx, 'dax0.0', {busyDelayMs: 0}), {instanceOf: KernelError});
  t.regex(e!.message, /refusing to unbind kmem: memory67 is online/);
  t.false(tb.k.writes.some((w) => w.path.endsWith('kmem/unbind')));
  t.false(tb.k.stranded);
  t.is(driver(tb.k), 'kmem');
});

test('online EINVAL on a block: KernelError naming the block; rolled back to devdax and zeroed', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  tb.k.fail(/memory67\/state$/, 'EINVAL', Infinity, 'online_movable');
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: KernelError});
  t.is(e!.code, 'EINVAL');
  t.is(e!.device, 'dax0.0');
  t.regex(e!.message, /memory67/);
  t.regex(e!.fix!, /valid_zones/);
  t.is(driver(tb.k), 'device_dax');
  t.true(blockStates(tb.k).every((s) => s === 'absent'));
  t.false(tb.k.stranded);
  t.true(tb.zeroCalls.length > 0);
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
});

test('online ENXIO from the kmem probe: KernelError, device rebound to device_dax', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  tb.k.fail(/kmem\/new_id$/, 'ENXIO');
  tb.k.fail(/kmem\/bind$/, 'ENXIO');
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: KernelError});
  t.is(e!.code, 'ENXIO');
  t.regex(e!.path!, /kmem\/bind/);
  t.is(driver(tb.k), 'device_dax');
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
});

test('online EHWPOISON: KernelError with code EHWPOISON naming the block; device returned to devdax', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  tb.k.poisonedBlocks.add(69);
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: KernelError});
  t.is(e!.code, 'EHWPOISON');
  t.is(e!.errno, 133);
  t.regex(e!.message, /memory69/);
  t.regex(e!.fix!, /hard-offlined/);
  t.is(driver(tb.k), 'device_dax');
  t.false(tb.k.stranded);
});

test('target_node -1: clear error naming the cause, nothing written', async (t) => {
  const tb = testbed(qemuSpec({}, {targetNode: -1}));
  t.teardown(tb.cleanup);
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: KernelError});
  t.regex(e!.message, /dax0\.0 has target_node -1; firmware did not describe a proximity domain for region0/);
  t.is(tb.k.writes.length, 0);
  t.is(driver(tb.k), 'device_dax');
});

test('a device smaller than one block after alignment: clear error, nothing written', async (t) => {
  const spec = qemuSpec();
  spec.buses![0].regions![0].namespaces = [{mode: 'devdax', size: 160n * MiB, dax: {start: 8n * GiB + 100n * MiB, size: 150n * MiB}}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: UsageError});
  t.regex(e!.message, /holds no whole 128\.00 MiB memory block/);
  t.is(tb.k.writes.length, 0);
});

test('unknown device and bad names: clear errors', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await t.throwsAsync(online(tb.ctx, 'dax9.9'), {message: /no such dax device/});
  await t.throwsAsync(online(tb.ctx, '../etc'), {instanceOf: UsageError});
  t.is(tb.k.writes.length, 0);
});

test('auto_online_blocks=online (6.12\'s default): daxram holds the policy while kmem binds, the blocks land Movable, the policy comes back', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  t.true(r.blocks.every((b) => b.by === 'daxram' && b.zone === 'Movable'), JSON.stringify(r.blocks));
  t.is(r.autoOnline.landed.length, 0);
  t.is(tb.k.read('/sys/devices/system/memory/auto_online_blocks').trim(), 'online', 'policy given back');
  const policyWrites = tb.k.writes.filter((w) => w.path.endsWith('/auto_online_blocks')).map((w) => w.value);
  t.deepEqual(policyWrites, ['offline', 'online'], 'held for the bind only');
  const bindAt = tb.k.writes.findIndex((w) => w.path.endsWith('kmem/bind') || w.path.endsWith('kmem/new_id'));
  t.true(tb.k.writes.findIndex((w) => w.value === 'offline' && w.path.endsWith('auto_online_blocks')) < bindAt);
  t.true(r.plan.notes.some((n) => /daxram holds it at "offline" while kmem binds/.test(n)));
});

test('memory hot-added by something else while daxram holds the policy still comes online as the policy says', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online_movable'}));
  t.teardown(tb.cleanup);
  // A DIMM hot-added on node 0 while kmem binds (blocks 200-201): the kernel adds it offline.
  tb.k.onBind = () => tb.k.hotAdd(200, 2, 0);
  await online(tb.ctx, 'dax0.0', {zone: 'normal'});
  t.true(blockStates(tb.k).every((s) => s === 'online:Normal'), blockStates(tb.k).join());
  t.is(tb.k.read('/sys/devices/system/memory/memory200/state').trim(), 'online');
  t.is(tb.k.read('/sys/devices/system/memory/memory201/valid_zones').trim(), 'Movable', 'as online_movable says');
  t.is(tb.k.read('/sys/devices/system/memory/auto_online_blocks').trim(), 'online_movable');
});

test('--zone auto leaves the policy to the kernel: kernel-onlined blocks and their zone are reported', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0', {zone: 'auto'});
  t.true(r.blocks.every((b) => b.by === 'kernel' && b.zone === 'Normal'));
  t.is(r.autoOnline.landed.length, r.blocks.length);
  t.true(r.warnings.some((w) => /landed in Normal/.test(w)));
  t.false(tb.k.writes.some((w) => w.path.endsWith('/auto_online_blocks')));
});

test('--no-online with auto_online_blocks=online: the policy is held, kmem binds, the blocks stay offline', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0', {online: false});
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s.startsWith('offline')));
  t.is(tb.k.read('/sys/devices/system/memory/auto_online_blocks').trim(), 'online');
});

test('killed while holding the policy: recover gives it back first, onlines what came meanwhile, then finishes Movable', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  // The state a SIGKILL right after the bind leaves: policy held, device bound, blocks offline,
  // plus a block someone hot-added in the window.
  const before = tb.k.list('/sys/devices/system/memory', /^memory\d+$/).map((n) => Number(n.slice(6)));
  tb.k.writeAttr('/sys/devices/system/memory', 'memory', 'auto_online_blocks', 'offline');
  tb.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  tb.k.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'new_id', 'dax0.0');
  tb.k.hotAdd(300, 1, 0);
  const ours = tb.k.blocksOf('dax0.0');
  new Journal(tb.ctx.stateDir).write({version: 1, op: 'online', device: 'dax0.0', pid: 1, startedAt: '', args: {zone: 'movable', online: true, hotplugPolicy: 'online', hotplugBefore: [...before, ...ours].join(',')}, step: 3, total: 12});
  const r = await recover(tb.ctx);
  t.is(r.action, 'completed-online');
  t.is(tb.k.read('/sys/devices/system/memory/auto_online_blocks').trim(), 'online');
  t.is(tb.k.read('/sys/devices/system/memory/memory300/state').trim(), 'online');
  t.true(blockStates(tb.k).every((s) => s === 'online:Movable'), blockStates(tb.k).join());
});

test('--no-online with auto_online_blocks=offline: kmem bound, blocks left offline', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  await online(tb.ctx, 'dax0.0', {online: false});
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s.startsWith('offline')));
});

test('a udev rule that onlines memory makes --no-online refuse (it would race the bind)', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  fs.mkdirSync(tb.k.fx.path('/etc/udev/rules.d'), {recursive: true});
  fs.writeFileSync(tb.k.fx.path('/etc/udev/rules.d/40-memory.rules'), 'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}=="offline", ATTR{state}="online"\n');
  const e = await t.throwsAsync(online(tb.ctx, 'dax0.0', {online: false}), {instanceOf: UsageError});
  t.regex(e!.message, /40-memory\.rules/);
  t.is(tb.k.writes.length, 0);
});

function writeRule(tb: ReturnType<typeof testbed>, file: string, text: string): void {
  fs.mkdirSync(tb.k.fx.path(file.replace(/\/[^/]+$/, '')), {recursive: true});
  fs.writeFileSync(tb.k.fx.path(file), text);
}

// RHEL's 40-redhat.rules shape: the memory match is a GOTO guard and the value comes from an env key.
const RHEL_RULE = [
  '# Memory hotadd request',
  'SUBSYSTEM!="memory", GOTO="memory_hotplug_end"',
  'ACTION!="add", GOTO="memory_hotplug_end"',
  'ENV{.state}="online"',
  'PROGRAM="/bin/systemd-detect-virt", RESULT=="none", ENV{.state}="online_movable"',
  'ATTR{state}=="offline", ATTR{state}="$env{.state}"',
  'LABEL="memory_hotplug_end"',
  '',
].join('\n');

test('udev rules: the RHEL GOTO form counts; a commented rule, a dmi "memory" rule and a rule masked in /etc do not', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  writeRule(tb, '/usr/lib/udev/rules.d/40-redhat.rules', RHEL_RULE);
  writeRule(tb, '/usr/lib/udev/rules.d/70-memory.rules', 'SUBSYSTEM!="dmi", GOTO="memory_end"\nIMPORT{program}="dmi_memory_id"\n');
  writeRule(tb, '/usr/lib/udev/rules.d/80-hotplug-cpu-mem.rules', '# SUBSYSTEM=="memory", ACTION=="add", ATTR{state}="online"\n');
  t.deepEqual(onliningUdevRules(tb.ctx), ['/usr/lib/udev/rules.d/40-redhat.rules']);
  // The operator's way to disable a distro rule: a same-named link to /dev/null in /etc.
  fs.mkdirSync(tb.k.fx.path('/etc/udev/rules.d'), {recursive: true});
  fs.symlinkSync('/dev/null', tb.k.fx.path('/etc/udev/rules.d/40-redhat.rules'));
  t.deepEqual(onliningUdevRules(tb.ctx), []);
  await online(tb.ctx, 'dax0.0', {online: false});
  t.is(driver(tb.k), 'kmem', '--no-online is allowed once the rule is masked');
});

test('udev rules: merged /usr (/lib/udev → /usr/lib/udev) is read once, and a rule in /etc overrides the same name', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  writeRule(tb, '/usr/lib/udev/rules.d/80-hotplug-cpu-mem.rules', 'SUBSYSTEM=="memory", ACTION=="add", TEST=="state", ATTR{state}=="offline", ATTR{state}="online"\n');
  fs.symlinkSync('usr/lib', tb.k.fx.path('/lib'));
  t.deepEqual(onliningUdevRules(tb.ctx), ['/usr/lib/udev/rules.d/80-hotplug-cpu-mem.rules']);
  writeRule(tb, '/etc/udev/rules.d/80-hotplug-cpu-mem.rules', 'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}=="offline", ATTR{state}="online_movable"\n');
  t.deepEqual(onliningUdevRules(tb.ctx), ['/etc/udev/rules.d/80-hotplug-cpu-mem.rules']);
});

test('udev rules are read only where they decide or explain: --no-online, a dry run, blocks someone else onlined', async (t) => {
  const plain = testbed();
  t.teardown(plain.cleanup);
  writeRule(plain, '/etc/udev/rules.d/40-memory.rules', 'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}="online"\n');
  const r = await online(plain.ctx, 'dax0.0');
  t.is(r.autoOnline.udevRules, undefined, 'every block was onlined by daxram: nothing to explain');
  const dry = testbed(qemuSpec(), {dryRun: true});
  t.teardown(dry.cleanup);
  writeRule(dry, '/etc/udev/rules.d/40-memory.rules', 'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}="online"\n');
  const d = await online(dry.ctx, 'dax0.0');
  t.deepEqual(d.autoOnline.udevRules, ['/etc/udev/rules.d/40-memory.rules']);
  t.true(d.plan.warnings.some((w) => /udev rule\(s\) online hot-added memory: \/etc\/udev\/rules\.d\/40-memory\.rules/.test(w)));
  // The kernel (standing in for the rule) onlines the blocks first: the warning names the rule.
  const raced = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(raced.cleanup);
  writeRule(raced, '/etc/udev/rules.d/40-memory.rules', 'SUBSYSTEM=="memory", ACTION=="add", ATTR{state}="online"\n');
  const rr = await online(raced.ctx, 'dax0.0', {zone: 'auto'});
  t.deepEqual(rr.autoOnline.udevRules, ['/etc/udev/rules.d/40-memory.rules']);
  t.true(rr.warnings.some((w) => /auto_online_blocks=online; udev rule\(s\) \/etc\/udev\/rules\.d\/40-memory\.rules\) and landed in Normal/.test(w)));
});

// Serial: it patches Journal.prototype, which concurrent tests in this file would also hit.
test.serial('the intent journal is written once per phase, not per block: 7 block onlines are one record', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const seen: string[] = [];
  const write = Journal.prototype.write;
  Journal.prototype.write = function (intent) {
    seen.push(`${intent.op} ${String(intent.at)}`);
    return write.call(this, intent);
  };
  t.teardown(() => (Journal.prototype.write = write));
  const r = await online(tb.ctx, 'dax0.0');
  t.is(r.blocks.length, 7);
  // The scrub-and-clear (it writes to the media), then unbind, new_id, bind, the block onlines
  // (one record at the first), verify.
  t.is(seen.length, 6, seen.join('\n'));
  t.is(seen[0], 'clear undefined');
  t.regex(seen[4], /^online .*memory65\/state$/);
  t.is(new Journal(tb.ctx.stateDir).read(), undefined, 'and cleared at the end');
});

test('dax memory kmem binds in the window (loading kmem binds waiting CXL/hmem devices) is not "other" memory: it stays offline for its own checks', async (t) => {
  const spec = qemuSpec({autoOnlineBlocks: 'online'});
  spec.buses![0].regions![0].namespaces = [{mode: 'devdax', size: 512n * MiB}, {mode: 'devdax', size: 512n * MiB}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  let once = false;
  tb.k.onBind = () => {
    if (once) return;
    once = true;
    tb.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.1');
    tb.k.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'new_id', 'dax0.1');
  };
  await online(tb.ctx, 'dax0.0');
  t.is(driver(tb.k, 'dax0.1'), 'kmem');
  t.true(blockStates(tb.k, 'dax0.1').every((s) => s.startsWith('offline')), blockStates(tb.k, 'dax0.1').join());
  t.true(blockStates(tb.k, 'dax0.0').every((s) => s === 'online:Movable'));
});

test('memory the kernel onlined before daxram looked is adopted: poison read without clearing and isolated, blocks moved to Movable, a block the kernel keeps reported', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  // The kernel's auto-online at boot (6.3+ binds CXL/hmem to kmem by itself): Normal, unchecked.
  tb.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  tb.k.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'new_id', 'dax0.0');
  t.true(blockStates(tb.k).every((s) => s === 'online:Normal'));
  const ids = tb.k.blocksOf('dax0.0');
  const page = BigInt(ids[2]) * tb.k.bs + 0x3000n;
  const asked: Array<boolean | undefined> = [];
  tb.ctx.poison = async (_dev, o) => {
    asked.push(o?.clear);
    return {scrubSupported: true, found: [{start: page, size: 64n}], cleared: [], remaining: [{start: page, size: 64n}], source: 'test list'};
  };
  tb.k.fail(new RegExp(`/memory${ids[4]}/state$`), 'EBUSY', Infinity, 'offline');
  const before = tb.k.hardwareCorrupted();
  const r = await online(tb.ctx, 'dax0.0');
  t.deepEqual(asked, [false], 'read, never cleared: the memory may hold live data');
  t.deepEqual(tb.k.poisonedPages, [page - 0x0n - (page % 4096n)]);
  t.is(tb.k.hardwareCorrupted() - before, 4096);
  const states = blockStates(tb.k);
  t.is(states.filter((s) => s === 'online:Movable').length, ids.length - 1);
  t.is(states[4], 'online:Normal');
  t.true(r.warnings.some((w) => new RegExp(`memory${ids[4]} stays in Normal: the kernel would not offline it \\(EBUSY\\)`).test(w)), r.warnings.join('\n'));
  t.true(r.warnings.some((w) => /has not checked/.test(w)));
  // Checked now: a second run neither scrubs nor moves anything.
  asked.length = 0;
  const n = tb.k.writes.length;
  await online(tb.ctx, 'dax0.0', {zone: 'auto'});
  t.deepEqual(asked, []);
  t.is(tb.k.writes.length, n);
});

test('adoption: a page memory_failure() calls busy is retried; one it never takes leaves the device System RAM as found, not returned to device_dax', async (t) => {
  const tb = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb.cleanup);
  tb.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  tb.k.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'new_id', 'dax0.0');
  const ids = tb.k.blocksOf('dax0.0');
  const page = BigInt(ids[1]) * tb.k.bs;
  tb.ctx.poison = async () => ({scrubSupported: true, found: [{start: page, size: 4096n}], cleared: [], remaining: [{start: page, size: 4096n}], source: 'test list'});
  tb.k.fail(/\/hard_offline_page$/, 'EBUSY', 2);
  await online(tb.ctx, 'dax0.0', {busyDelayMs: 1});
  t.deepEqual(tb.k.poisonedPages, [page], 'taken on the third try');

  const tb2 = testbed(qemuSpec({autoOnlineBlocks: 'online'}));
  t.teardown(tb2.cleanup);
  tb2.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  tb2.k.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'new_id', 'dax0.0');
  const page2 = BigInt(tb2.k.blocksOf('dax0.0')[1]) * tb2.k.bs;
  tb2.ctx.poison = async () => ({scrubSupported: true, found: [{start: page2, size: 4096n}], cleared: [], remaining: [{start: page2, size: 4096n}], source: 'test list'});
  tb2.k.fail(/\/hard_offline_page$/, 'EBUSY');
  const e = await t.throwsAsync(online(tb2.ctx, 'dax0.0', {busyDelayMs: 1}));
  t.regex(e!.message, /hard_offline_page 0x[0-9a-f]+ failed \(EBUSY\)/);
  t.is(driver(tb2.k, 'dax0.0'), 'kmem', 'still System RAM');
  t.true(blockStates(tb2.k).every((s) => s.startsWith('online')), blockStates(tb2.k).join());
});

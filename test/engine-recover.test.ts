// Crash safety in fixtures: the states a SIGKILL can leave (journal + kernel state by hand),
// recover() and any mutating command converging them, and the one lock. The real SIGKILLs are
// in test/kernel/crash.test.ts.

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {Journal, offline, online, recover, type JournalEntry} from '../daemon/engine';
import {acquire} from '../daemon/engine/lock';
import {runPlan} from '../daemon/engine/exec';
import {newPlan, sysfsStep} from '../daemon/engine/plan';
import {DaxramError, LockError} from '../daemon/errors';
import {loadNative} from '../daemon/native';
import {GiB, MiB} from './helpers/fixture';
import {blockStates, driver, qemuSpec, testbed} from './helpers/engine-context';
import type {FakeKernel} from './helpers/fakekernel';

const intent = (op: 'online' | 'offline', device = 'dax0.0', step = 1): JournalEntry => ({
  version: 1,
  op,
  device,
  pid: 4242,
  startedAt: new Date(0).toISOString(),
  args: op === 'online' ? {zone: 'movable', online: true, isolate: []} : {zone: 'movable', zero: true},
  step,
  total: 10,
});
const w = (k: FakeKernel, drv: string, attr: string, dev = 'dax0.0') => k.writeAttr(`/sys/bus/dax/drivers/${drv}`, drv, attr, dev);
const setBlocks = (k: FakeKernel, ids: number[], v: string) => ids.forEach((id) => k.writeAttr(`/sys/devices/system/memory/memory${id}`, `memory${id}`, 'state', v));

test('online killed after the unbind (no driver): recover finishes it', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  w(tb.k, 'device_dax', 'unbind');
  new Journal(tb.ctx.stateDir).write(intent('online'));
  t.is(driver(tb.k), undefined);
  const r = await recover(tb.ctx);
  t.is(r.action, 'completed-online');
  t.is(r.found!.pid, 4242);
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s === 'online:Movable'));
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
});

test('online killed after the bind and after half the blocks: recover onlines the rest', async (t) => {
  for (const half of [false, true]) {
    const tb = testbed();
    t.teardown(tb.cleanup);
    w(tb.k, 'device_dax', 'unbind');
    w(tb.k, 'kmem', 'new_id');
    const ids = tb.k.blocksOf('dax0.0');
    if (half) setBlocks(tb.k, ids.slice(0, 3), 'online_movable');
    new Journal(tb.ctx.stateDir).write(intent('online', 'dax0.0', half ? 5 : 3));
    tb.k.writes.length = 0;
    await recover(tb.ctx);
    t.true(blockStates(tb.k).every((s) => s === 'online:Movable'));
    t.is(tb.k.writes.length, half ? ids.length - 3 : ids.length, 'only what is missing is written');
  }
});

test('offline killed after half the blocks, after the unbind, after the bind: recover ends in devdax, zeroed', async (t) => {
  for (const at of ['half', 'unbind', 'bind'] as const) {
    const tb = testbed();
    t.teardown(tb.cleanup);
    await online(tb.ctx, 'dax0.0');
    tb.k.scribble('dax0.0', 64 << 20);
    const ids = tb.k.blocksOf('dax0.0');
    setBlocks(tb.k, at === 'half' ? ids.slice(0, 3) : ids, 'offline');
    if (at !== 'half') w(tb.k, 'kmem', 'unbind');
    if (at === 'bind') w(tb.k, 'device_dax', 'bind');
    new Journal(tb.ctx.stateDir).write(intent('offline'));
    const r = await recover(tb.ctx);
    t.is(r.action, 'completed-offline', at);
    t.is(driver(tb.k), 'device_dax', at);
    t.false(tb.k.stranded, at);
    t.true(blockStates(tb.k).every((s) => s === 'absent'), at);
    t.is(tb.k.nonZero('dax0.0'), 0, `${at}: zeroed`);
  }
});

test('a mutating command on another device finishes the interrupted transition first', async (t) => {
  const spec = qemuSpec();
  spec.buses![0].regions![0].namespaces = [{mode: 'devdax', size: 512n * MiB}, {mode: 'devdax', size: 512n * MiB}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  w(tb.k, 'device_dax', 'unbind', 'dax0.1');
  new Journal(tb.ctx.stateDir).write(intent('online', 'dax0.1'));
  await online(tb.ctx, 'dax0.0');
  t.is(driver(tb.k, 'dax0.0'), 'kmem');
  t.is(driver(tb.k, 'dax0.1'), 'kmem');
  t.true(tb.warnings.some((m) => /dax0\.1: finishing an interrupted online/.test(m)));
});

test('a command on the same device supersedes its interrupted transition (offline after a killed online zeroes)', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  w(tb.k, 'device_dax', 'unbind');
  w(tb.k, 'kmem', 'new_id');
  setBlocks(tb.k, tb.k.blocksOf('dax0.0').slice(0, 2), 'online_movable');
  new Journal(tb.ctx.stateDir).write(intent('online'));
  await offline(tb.ctx, 'dax0.0');
  t.is(driver(tb.k), 'device_dax');
  t.true(tb.zeroCalls.length > 0);
  t.is(new Journal(tb.ctx.stateDir).read(), undefined);
});

test('recover with nothing to do, and its dry run', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  t.is((await recover(tb.ctx)).action, 'none');
  new Journal(tb.ctx.stateDir).write(intent('online'));
  w(tb.k, 'device_dax', 'unbind');
  const n = tb.k.writes.length;
  const dry = await recover({...tb.ctx, dryRun: true});
  t.regex(dry.detail!, /would finish the interrupted online of dax0\.0/);
  t.deepEqual(dry.unbound, ['dax0.0']);
  t.is(tb.k.writes.length, n);
});

test('journal: atomic fsync\'d record; a corrupt one is a clear error', (t) => {
  const dir = fs.mkdtempSync('/tmp/daxram-j-');
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  const j = new Journal(dir);
  j.write(intent('offline'));
  t.deepEqual(j.read(), intent('offline'));
  t.deepEqual(fs.readdirSync(dir), ['journal.json'], 'no temp file left behind');
  fs.writeFileSync(path.join(dir, 'journal.json'), '{"version": 1, "op": "online"');
  const e = t.throws(() => j.read(), {instanceOf: DaxramError});
  t.regex(e!.message, /corrupt/);
  t.regex(e!.fix!, /remove/);
  j.clear();
  t.is(j.read(), undefined);
});

test('lock: flock(2) excludes a second holder (named in the error), released on release()', async (t) => {
  const native = loadNative();
  const tb = testbed();
  t.teardown(tb.cleanup);
  const ctx = {...tb.ctx, native, lockWaitMs: 0};
  const a = await acquire(ctx, 'online dax0.0');
  const e = await t.throwsAsync(acquire(ctx, 'offline dax0.0'), {instanceOf: LockError});
  t.regex(e!.message, new RegExp(`pid ${process.pid}: online dax0\\.0`));
  t.is(e!.code, 'EWOULDBLOCK');
  // A mutating command under someone else's lock writes nothing.
  await t.throwsAsync(online(ctx, 'dax0.0'), {instanceOf: LockError});
  t.is(tb.k.writes.length, 0);
  a.release();
  const b = await acquire(ctx, 'again');
  b.release();
});

test.serial('lock: waits for a holder that finishes within --lock-wait, and only until it releases', async (t) => {
  const native = loadNative();
  const tb = testbed();
  t.teardown(tb.cleanup);
  const a = await acquire({...tb.ctx, native}, 'first');
  let released = false;
  setTimeout(() => {
    released = true;
    a.release();
  }, 300);
  const b = await acquire({...tb.ctx, native, lockWaitMs: 30000}, 'second');
  // A flock that never locks would hand out the second lock at once, before the release.
  t.true(released, 'the second holder got the lock only after the first released it');
  b.release();
});

test('offline zeroes in align-sized chunks and reports progress to the last byte', async (t) => {
  const spec = qemuSpec({blockSize: 2n * MiB});
  spec.buses![0].regions![0].namespaces = [{mode: 'devdax', size: 24n * MiB, dax: {start: 8n * GiB, size: 16n * MiB}}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  const ctx = {...tb.ctx, lockWaitMs: 0};
  await online(ctx, 'dax0.0');
  tb.k.scribble('dax0.0', 0);
  tb.k.scribble('dax0.0', (16 << 20) - 4096);
  const progress: number[] = [];
  await offline({...ctx, progress: (_d, _w, done) => progress.push(done)}, 'dax0.0');
  t.is(tb.k.nonZero('dax0.0'), 0);
  t.is(progress[progress.length - 1], 16 << 20);
  // The real addon's zeroing is proven on device-dax in the kernel suite (online.test, kinds.test).
});

test('a seed that vanishes before its first write is re-read and the write retried (kernel async unregister race)', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const k = tb.k;
  // Two candidate objects: the first "vanishes" (ENOENT on write, as kernfs answers once the
  // device is unregistered), the re-read seed is the second.
  const seeds = ['dax0.0', 'dax0.0'];
  const calls: boolean[] = [];
  k.fail(/\/dax0\.0\/align$/, 'ENOENT', 1);
  const plan = newPlan('provision', 'region0', 'test');
  plan.steps.push(
    sysfsStep('/sys/bus/dax/devices/<seed>', '<seed>', 'align', '2097152', 'region0', 'test step', {
      retryVanished: true,
      resolve: (fresh) => {
        calls.push(!!fresh);
        const s = seeds[calls.length - 1];
        return {objectDir: `/sys/bus/dax/devices/${s}`, object: s};
      },
    }),
  );
  const journal = new Journal(tb.ctx.stateDir, 'layout.json');
  const intent = {version: 1, op: 'provision', device: 'region0', pid: process.pid, startedAt: '', args: {}, step: 0, total: 1} as unknown as JournalEntry;
  const log = await runPlan(tb.ctx, plan, {journal, intent});
  t.deepEqual(calls, [false, true]);
  t.is(log[0].done, 'written');
  // The fake kernel logs every attempt: the one that met ENOENT and the retry that landed.
  t.deepEqual(k.writes.filter((w) => w.path.endsWith('/align')).map((w) => w.value), ['2097152', '2097152']);

  // Without retryVanished the same fault is a KernelError naming the object.
  k.fail(/\/dax0\.0\/align$/, 'ENOENT', 1);
  plan.steps[0] = sysfsStep('/sys/bus/dax/devices/dax0.0', 'dax0.0', 'align', '2097152', 'region0', 'test step');
  const e = await t.throwsAsync(runPlan(tb.ctx, plan, {journal, intent}));
  t.is((e as DaxramError).code, 'ENOENT');
});

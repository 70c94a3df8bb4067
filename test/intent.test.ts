// The operator's decision and its transition, kept in step by the engine's one intent hook:
// record before the first write, confirm before the journal is cleared, and recover confirming
// a transition it finishes. The real SIGKILLs are in test/kernel/crash.test.ts.

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {Journal, offline, online, recover, type IntentHook} from '../daemon/engine';
import {LAYOUT_JOURNAL} from '../daemon/engine/journal';
import {StateStore} from '../daemon/config/state';
import {operatorIntents} from '../daemon/host/intent';
import {deviceKey} from '../daemon/model/identity';
import {readDax} from '../daemon/model/dax';
import {driver, testbed, type EngineTestbed} from './helpers/engine-context';

/** The host's hook, each call logged with how many kernel writes came before it and whether a journal was on disk. */
function watched(tb: EngineTestbed, log: string[]): IntentHook {
  const real = operatorIntents(tb.k, tb.ctx.stateDir);
  const journal = () => (['journal.json', LAYOUT_JOURNAL].some((n) => fs.existsSync(path.join(tb.ctx.stateDir, n))) ? 'journal' : 'no journal');
  return {
    record: (d, s) => (log.push(`record ${s.kind} after ${tb.k.writes.length} writes, ${journal()}`), real.record(d, s)),
    confirm: (d, s, m) => {
      log.push(`confirm ${s.kind}, ${journal()}`);
      real.confirm(d, s, m);
    },
    abandon: (d, s) => (log.push(`abandon ${s.kind}`), real.abandon(d, s)),
  };
}

const records = (tb: EngineTestbed) => new StateStore(tb.ctx.stateDir).load().records.map((r) => `${r.key} ${r.mode} ${r.action}`);

test('online and offline: the record comes before the first write and is confirmed before the journal is cleared', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const log: string[] = [];
  tb.ctx.intent = watched(tb, log);
  const key = deviceKey(readDax(tb.k, 'dax0.0', {blockSize: 0n}));
  await online(tb.ctx, 'dax0.0', {decision: {action: 'online', zone: 'movable', online: true}});
  t.is(driver(tb.k), 'kmem');
  t.deepEqual(records(tb), [`${key} ram online`]);
  const n = tb.k.writes.length;
  await offline(tb.ctx, 'dax0.0', {decision: {action: 'offline'}});
  t.deepEqual(records(tb), [`${key} devdax offline`]);
  t.deepEqual(log, ['record device after 0 writes, no journal', 'confirm device, journal', `record device after ${n} writes, no journal`, 'confirm device, journal']);
});

test("daxramd's own transitions (no decision) write no record", async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const log: string[] = [];
  tb.ctx.intent = watched(tb, log);
  await online(tb.ctx, 'dax0.0');
  await offline(tb.ctx, 'dax0.0');
  t.deepEqual(log, []);
  t.deepEqual(records(tb), []);
});

test('recover finishes an online whose journal carries a decision, and keeps that decision', async (t) => {
  // The kill points between record and confirm of a region layout are SIGKILLed for real in
  // test/kernel/crash.test.ts (the fake kernel makes no namespaces); here, the journal alone.
  const tb = testbed();
  t.teardown(tb.cleanup);
  const log: string[] = [];
  tb.ctx.intent = watched(tb, log);
  tb.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  new Journal(tb.ctx.stateDir).write({version: 1, op: 'online', device: 'dax0.0', pid: 4242, startedAt: new Date(0).toISOString(), args: {zone: 'normal', online: true, action: 'online'}, step: 1, total: 9});
  t.is((await recover(tb.ctx)).action, 'completed-online');
  t.is(driver(tb.k), 'kmem');
  const rec = new StateStore(tb.ctx.stateDir).get(deviceKey(readDax(tb.k, 'dax0.0', {blockSize: 0n})));
  t.is(rec?.mode, 'ram');
  t.is(rec?.zone, 'normal');
  t.is(log.at(-1), 'confirm device, journal');
  // A journal without a decision (daxramd's own) is finished and records nothing.
  const tb2 = testbed();
  t.teardown(tb2.cleanup);
  tb2.ctx.intent = watched(tb2, log);
  tb2.k.writeAttr('/sys/bus/dax/drivers/device_dax', 'device_dax', 'unbind', 'dax0.0');
  new Journal(tb2.ctx.stateDir).write({version: 1, op: 'online', device: 'dax0.0', pid: 4242, startedAt: new Date(0).toISOString(), args: {zone: 'movable', online: true}, step: 1, total: 9});
  await recover(tb2.ctx);
  t.deepEqual(records(tb2), []);
});

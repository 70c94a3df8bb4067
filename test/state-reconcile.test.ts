// The daemon's reconcile on a fake 6.1 kernel: config → RAM, an operator record wins over the
// config and survives a new daemon (restart), forget hands the device back, a malformed reload
// changes nothing, and a node mismatch is refused.

import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Writable} from 'node:stream';
import {Daemon} from '../daemon/daxramd/daemon';
import {DaemonLog} from '../daemon/daxramd/log';
import {StateStore} from '../daemon/config/state';
import {recordDevices} from '../daemon/config/operator';
import {operatorIntents} from '../daemon/host/intent';
import {GiB} from './helpers/fixture';
import {qemuSpec, testbed, driver, blockStates} from './helpers/engine-context';

const UUID = '11111111-2222-4333-8444-555555555555';

function setup(conf: string) {
  const tb = testbed(qemuSpec({}, {}));
  // The fixture's namespace gets our uuid so the config can match by it.
  const ns = tb.k.list('/sys/bus/nd/devices', /^namespace/)[0];
  fs.writeFileSync(tb.k.p(`/sys/bus/nd/devices/${ns}/uuid`), UUID + '\n');
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-dconf-'));
  fs.writeFileSync(path.join(etc, 'daxram.conf'), conf);
  const lines: string[] = [];
  const stream = new Writable({write(c, _e, cb) { lines.push(String(c)); cb(); }});
  const mk = () =>
    new Daemon(
      {paths: {etcDir: etc}, stateDir: tb.ctx.stateDir, lockPath: tb.ctx.lockPath, socketPath: path.join(etc, 'sock'), root: tb.k.root, sysfs: tb.k, engineContext: () => tb.ctx, once: true},
      new DaemonLog({journal: true, stream, level: 'debug'}),
    );
  return {tb, etc, lines, mk};
}

const CONF = `[device n1]\nuuid = ${UUID}\nmode = ram\nnode = 1\n`;

test('config → RAM; operator record wins and survives a restart; forget returns to the config', async (t) => {
  const {tb, lines, mk} = setup(CONF);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s.startsWith('online')), blockStates(tb.k).join());
  t.regex(d.statusLine(), /^1\/1 device\(s\) managed; RAM: dax0.0 7\/7 online/);
  t.true(lines.some((l) => l.startsWith('<5>dax0.0: making it System RAM on node 1')));
  // STATUS's memmap line comes from the reconcile's own scan: 7 blocks of dax0.0's struct pages.
  t.deepEqual(d.memmap?.devices.map((x) => [x.device, x.bytes]), [['dax0.0', 7n * (2n << 20n)]]);
  t.regex(d.memmap?.summary ?? '', /^struct pages of dax System RAM: /);
  const writes = tb.k.writes.length;

  // A second pass changes nothing.
  await d.reconcile('again');
  t.is(tb.k.writes.length, writes);

  // The operator asks for devdax (the CLI records before acting); a new daemon honours it.
  new StateStore(tb.ctx.stateDir).record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'devdax', action: 'offline', at: new Date().toISOString()}]);
  const d2 = mk();
  await d2.start();
  t.is(driver(tb.k), 'device_dax');
  t.regex(d2.statusLine(), /devdax: dax0.0/);
  const d3 = mk();
  await d3.start();
  t.is(driver(tb.k), 'device_dax');

  new StateStore(tb.ctx.stateDir).forget('dax0.0');
  await d3.reconcile('forget');
  t.is(driver(tb.k), 'kmem');
  tb.cleanup();
});

test('a malformed reload changes nothing and keeps the previous config; a restart uses the last good one', async (t) => {
  const {tb, etc, lines, mk} = setup(CONF);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'kmem');
  fs.writeFileSync(path.join(etc, 'daxram.conf'), CONF.replace('mode = ram', 'mode = devdax') + 'garbage\n');
  const writes = tb.k.writes.length;
  await d.reload();
  t.is(tb.k.writes.length, writes);
  t.is(driver(tb.k), 'kmem');
  t.regex(d.statusLine(), /config rejected, previous kept/);
  t.true(lines.some((l) => /^<3>config rejected, nothing changed: .*daxram\.conf:5: expected "key = value"/.test(l)));
  const d2 = mk();
  await d2.start();
  t.is(tb.k.writes.length, writes);
  t.true(d2.cfg.devices.length === 1 && d2.cfg.devices[0].mode === 'ram');
  tb.cleanup();
});

test('a device on another node than the config says is refused, not onlined', async (t) => {
  const {tb, lines, mk} = setup(CONF.replace('node = 1', 'node = 2'));
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  t.is(d.last[0].action, 'refused');
  t.regex(d.statusLine(), /FAILED: dax0.0/);
  t.true(lines.some((l) => l.startsWith('<3>dax0.0: refusing: target_node is 1')));
  t.is(d.metrics.failures.get({device: 'dax0.0', operation: 'node-mismatch'}), 1);
  tb.cleanup();
});

test('a device the config reserves is never onlined by daxramd, even with an operator record saying ram', async (t) => {
  const {tb, mk} = setup(`[device trace]\nuuid = ${UUID}\nmode = reserved\n`);
  // A record from before the reservation (or written by hand): the reservation still wins.
  new StateStore(tb.ctx.stateDir).record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'ram', action: 'online', at: new Date().toISOString()}]);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  t.is(d.last[0].action, 'refused', 'the gate refused it; the report says why');
  t.regex(JSON.stringify(d.last[0]), /reserved \(by .*daxram\.conf:1 \[device trace\]\)/);
  t.is(tb.k.writes.length, 0);
  tb.cleanup();
});

test('after a CLI reassign the region is the operator\'s: the config does not online its devices', async (t) => {
  const {tb, mk} = setup(CONF);
  new StateStore(tb.ctx.stateDir).record([{key: 'region:region0', device: 'region0', mode: 'reserved', action: 'reassign', at: new Date().toISOString()}]);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  t.regex(d.last[0].desired!.source, /^operator \(reassign/);
  // A later per-device action wins over the region record.
  new StateStore(tb.ctx.stateDir).record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'ram', action: 'online', at: new Date().toISOString()}]);
  await d.reconcile('online');
  t.is(driver(tb.k), 'kmem');
  tb.cleanup();
});

test('reassign records each new device: after a reboot the RAM part comes back, the devdax part stays', async (t) => {
  const {tb, mk} = setup(`[daemon]\nunmatched = ram\n`);
  const intents = operatorIntents(tb.k, tb.ctx.stateDir);
  const decision = {action: 'reassign', zone: 'movable', online: true} as const;
  intents.record(decision, {kind: 'nvdimm-region', region: 'region0'});
  intents.confirm(decision, {kind: 'nvdimm-region', region: 'region0'}, {devices: [{dax: 'dax0.0', role: 'ram'}]});
  const recs = new StateStore(tb.ctx.stateDir).load().records.map((r) => [r.key, r.device, r.mode, r.action, r.zone ?? '']);
  t.deepEqual(recs, [
    ['region:region0', 'region0', 'reserved', 'reassign', ''],
    [`uuid:${UUID}`, 'dax0.0', 'ram', 'reassign', 'movable'],
  ]);
  // A fresh daemon on a devdax device (as after a reboot) onlines the RAM part: its own record wins over the region's.
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s.startsWith('online')), blockStates(tb.k).join());
  t.regex(d.last[0].desired!.source, /^operator \(reassign/);

  // The devdax role is recorded as devdax: the daemon, even with unmatched = ram, returns it.
  intents.confirm({action: 'reassign'}, {kind: 'nvdimm-region', region: 'region0'}, {devices: [{dax: 'dax0.0', role: 'devdax'}]});
  await d.reconcile('devdax');
  t.is(driver(tb.k), 'device_dax');
  tb.cleanup();
});

test('a two-range hmem device: the CLI record and daxramd key it alike (range at device offset 0), so the daemon honours the operator', async (t) => {
  // Ranges in device order 40 GiB then 20 GiB: keyed by the first in device order, whatever
  // the physical order, by every reader.
  const tb = testbed({nodes: [0, 2], hmem: [{ranges: [{start: 40n * GiB, size: GiB}, {start: 20n * GiB, size: GiB}], targetNode: 2}]});
  t.teardown(tb.cleanup);
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-dconf-'));
  t.teardown(() => fs.rmSync(etc, {recursive: true, force: true}));
  fs.writeFileSync(path.join(etc, 'daxram.conf'), '[daemon]\nunmatched = ram\n');
  recordDevices(tb.k, new StateStore(tb.ctx.stateDir), [{device: 'dax0.0', mode: 'devdax'}], 'offline');
  const rec = new StateStore(tb.ctx.stateDir).load().records[0];
  t.is(rec.key, 'res:0:0xa00000000');
  const d = new Daemon(
    {paths: {etcDir: etc}, stateDir: tb.ctx.stateDir, lockPath: tb.ctx.lockPath, socketPath: path.join(etc, 'sock'), root: tb.k.root, sysfs: tb.k, engineContext: () => tb.ctx, once: true},
    new DaemonLog({journal: true, stream: new Writable({write: (_c, _e, cb) => cb()})}),
  );
  await d.start();
  t.is(d.last[0].key, rec.key);
  t.regex(d.last[0].desired!.source, /^operator \(offline/);
  t.is(driver(tb.k), 'device_dax', 'unmatched = ram did not undo the operator');
});

test('new poison in RAM daxramd manages is isolated through the engine (locked, journalled, verified) and reported', async (t) => {
  const {tb, mk} = setup(CONF);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'kmem');
  // The region's badblocks grows by one sector inside the second online block.
  const bs = tb.k.bs;
  const ids = tb.k.blocksOf('dax0.0');
  const region = tb.k.real('/sys/bus/nd/devices/region0');
  const start = tb.k.readBig(`${region}/resource`);
  const addr = BigInt(ids[1]) * bs + 0x5000n;
  fs.writeFileSync(tb.k.p(`${region}/badblocks`), `${(addr - start) / 512n} 1\n`);
  const before = tb.k.hardwareCorrupted();
  await d.reconcile('badblocks');
  t.deepEqual(tb.k.poisonedPages, [addr]);
  t.is(tb.k.hardwareCorrupted() - before, 4096);
  t.is(d.isolated.get('dax0.0'), 1);
  t.regex(d.statusLine(), /poison isolated: dax0\.0 1 page\(s\)/);
  t.false(fs.existsSync(path.join(tb.ctx.stateDir, 'journal.json')), 'journal cleared after a verified isolation');
  // Seen once: the next look isolates nothing new.
  await d.reconcile('again');
  t.is(tb.k.poisonedPages.length, 1);
  // A kernel that swallows the write without poisoning the page fails verification, loudly.
  tb.k.silentPoison = true;
  fs.writeFileSync(tb.k.p(`${region}/badblocks`), `${(addr - start) / 512n} 1\n${(addr + 0x10000n - start) / 512n} 1\n`);
  await d.reconcile('badblocks');
  t.is(d.metrics.failures.get({device: 'dax0.0', operation: 'isolate'}), 1);
  tb.cleanup();
});

test('a decision taken from records a CLI command changes while it holds the lock is not carried out: it is checked again under the lock', async (t) => {
  const {tb, lines, mk} = setup(CONF);
  // The CLI's hold on the lock, as flock(2) would refuse daxramd meanwhile.
  let cliHolds = false;
  const flock = tb.ctx.native.flock;
  tb.ctx.native = {
    ...tb.ctx.native,
    flock: (fd: number, op: number) => {
      if (cliHolds && !(op & 8)) throw Object.assign(new Error('Resource temporarily unavailable'), {code: 'EWOULDBLOCK'});
      return flock(fd, op);
    },
  };
  tb.ctx.lockWaitMs = 30_000;
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'kmem');
  const store = new StateStore(tb.ctx.stateDir);
  // A CLI reassign: the device's older record says devdax (an earlier `daxram offline`); the
  // reassign holds the lock, onlines the device and records it ram inside its transition.
  store.record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'devdax', action: 'offline', at: new Date().toISOString()}]);
  cliHolds = true;
  // A uevent meanwhile: daxramd reads the old record and decides to offline; it waits for the lock.
  const run = d.reconcile('uevent during the CLI transition');
  while (!lines.some((l) => /dax0\.0: returning it to devdax/.test(l))) await new Promise((r) => setImmediate(r));
  store.record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'ram', action: 'reassign', at: new Date().toISOString()}]);
  const writes = tb.k.writes.length;
  cliHolds = false;
  const reports = await run;
  t.is(tb.k.writes.length, writes, 'nothing written after the lock was free');
  t.is(driver(tb.k), 'kmem');
  t.true(blockStates(tb.k).every((s) => s.startsWith('online')), blockStates(tb.k).join());
  t.regex(reports[0].detail ?? '', /not starting offline dax0\.0: dax0\.0 is now wanted ram \(operator \(reassign/);
  t.is(reports[0].action, 'none');
  tb.cleanup();
});

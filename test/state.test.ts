import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {ConfigError} from '../daemon/errors';
import {StateStore, OperatorRecord} from '../daemon/config/state';
import {cxlRegionKey, hmemRangeKey} from '../daemon/model/identity';
import {recordDevices} from '../daemon/config/operator';
import {deviceKey} from '../daemon/config/config';
import {scanPlatform} from '../daemon/model/scan';
import {Sysfs} from '../daemon/sysfs';
import {buildFixture, GiB} from './helpers/fixture';
import {qemuSpec} from './helpers/engine-context';

const rec = (over: Partial<OperatorRecord> = {}): OperatorRecord => ({
  key: 'uuid:48d8e42c-a2f0-4312-9e70-a837faafe862',
  device: 'dax0.0',
  mode: 'devdax',
  action: 'offline',
  at: '2025-01-01T00:00:00.000Z',
  ...over,
});

function dir(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-state-')), 'var/lib/daxram');
}

test('an absent store is empty; records survive a new store object (restart)', (t) => {
  const d = dir();
  t.deepEqual(new StateStore(d).load().records, []);
  new StateStore(d).record([rec()]);
  const again = new StateStore(d);
  t.deepEqual(again.get(rec().key), rec());
  t.is(fs.statSync(again.file).mode & 0o777, 0o600);
  t.is(fs.statSync(d).mode & 0o777, 0o700);
});

test('a new action on the same device replaces the old record', (t) => {
  const s = new StateStore(dir());
  s.record([rec()]);
  s.record([rec({mode: 'ram', zone: 'movable', online: true, action: 'online', device: 'dax0.1'}), rec({key: 'res:1:0x240000000', device: 'dax1.0'})]);
  const all = s.load().records;
  t.is(all.length, 2);
  t.like(all[0], {mode: 'ram', action: 'online', device: 'dax0.1'});
});

test('forget by key or by kernel name', (t) => {
  const s = new StateStore(dir());
  s.record([rec(), rec({key: 'res:1:0x240000000', device: 'dax1.0'})]);
  t.true(s.forget('dax1.0'));
  t.false(s.forget('dax1.0'));
  t.true(s.forget(rec().key));
  t.deepEqual(s.load().records, []);
});

test('writes leave no temporary files behind', (t) => {
  const s = new StateStore(dir());
  s.record([rec()]);
  s.record([rec({mode: 'ram'})]);
  t.deepEqual(fs.readdirSync(s.dir), ['desired.json']);
});

test('a corrupt store is an error naming the file, and recording refuses to overwrite it', (t) => {
  const s = new StateStore(dir());
  fs.mkdirSync(s.dir, {recursive: true});
  fs.writeFileSync(s.file, '{"version":1,"records":[{"key":"x"}]}');
  const e = t.throws(() => s.load(), {instanceOf: ConfigError})!;
  t.is(e.path, s.file);
  fs.writeFileSync(s.file, '{not json');
  t.throws(() => s.record([rec()]), {instanceOf: ConfigError});
  t.is(fs.readFileSync(s.file, 'utf8'), '{not json');
});

test('invalid records are refused before anything is written', (t) => {
  const s = new StateStore(dir());
  s.record([rec()]);
  const before = fs.readFileSync(s.file, 'utf8');
  t.throws(() => s.record([rec({mode: 'swap' as any})]), {instanceOf: ConfigError});
  t.is(fs.readFileSync(s.file, 'utf8'), before);
});

test("an operator record is keyed like daxramd keys the live device (its namespace uuid; else dax region + start)", (t) => {
  for (const spec of [qemuSpec(), {...qemuSpec(), buses: [], hmem: [{start: 16n * GiB, size: GiB, targetNode: 1}]}]) {
    const fx = buildFixture(spec);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-oprec-'));
    t.teardown(() => {
      fx.cleanup();
      fs.rmSync(state, {recursive: true, force: true});
    });
    const sysfs = new Sysfs(fx.root);
    const dev = scanPlatform(sysfs).devices[0];
    recordDevices(sysfs, new StateStore(state), [{device: dev.name, mode: 'ram', zone: 'movable'}], 'online');
    const rec = new StateStore(state).load().records[0];
    t.is(rec.key, deviceKey(dev));
    t.regex(rec.key, spec.buses?.length ? /^uuid:/ : /^res:/);
  }
});

test('a declared CXL region: its memdevs by serial and its size; a malformed one is refused and never written', (t) => {
  const s = new StateStore(dir());
  const cxl = rec({key: 'cxl:0x1000,0x1001', device: 'mem0,mem1', mode: 'ram', action: 'provision', memdevs: ['0x1000', '0x1001'], size: String(2 * 2 ** 30)});
  s.record([cxl]);
  t.deepEqual(new StateStore(s.dir).get('cxl:0x1000,0x1001'), cxl);
  for (const bad of [{memdevs: []}, {memdevs: ['mem0']}, {size: '0'}, {size: '2G'}, {memdevs: undefined}]) {
    t.throws(() => s.record([{...cxl, key: 'cxl:0x2000', ...bad}]), {instanceOf: ConfigError}, JSON.stringify(bad));
  }
  t.is(s.load().records.length, 1);
  t.true(s.forget('mem0,mem1'), 'forget by what the operator typed');
});

test('a declared hmem split: the range by its start, its size and the RAM part; a malformed one is refused and never written', (t) => {
  const s = new StateStore(dir());
  const split = rec({key: hmemRangeKey(0x50000000n), device: 'hmem.0', mode: 'ram', action: 'reassign', size: String(256 * 2 ** 20), ram: String(128 * 2 ** 20)});
  t.is(split.key, 'hmem:0x50000000');
  s.record([split]);
  t.deepEqual(new StateStore(s.dir).get('hmem:0x50000000'), split);
  s.record([{...split, key: 'hmem:0x60000000', mode: 'devdax', ram: '0'}]); // --ram 0: all devdax
  for (const bad of [{ram: undefined}, {ram: '128M'}, {size: '0'}, {size: undefined}, {key: 'hmem:hmem.0'}, {key: 'hmem:0x'}]) {
    t.throws(() => s.record([{...split, key: 'hmem:0x70000000', ...bad}]), {instanceOf: ConfigError}, JSON.stringify(bad));
  }
  t.is(s.load().records.length, 2);
  t.true(s.forget('hmem:0x50000000'), 'forget by its key');
});

test('a CXL region is its set of memdevs: the key sorts their serials', (t) => {
  t.is(cxlRegionKey([0x1001n, 0x1000n]), 'cxl:0x1000,0x1001');
  t.is(cxlRegionKey([0x1000n, 0x1001n]), cxlRegionKey([0x1001n, 0x1000n]));
});

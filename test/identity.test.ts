// A device's identity is said once (model/identity.ts): a rule, a reservation, an operator record
// and daxramd's view of a device must agree on whether they mean the same device.

import test from 'ava';
import {cxlRegionKey, deviceKey, deviceMatch, hmemRangeKey, keyKind, liveCxlRegionKey, matchKey, matchStrength, nvdimmRegionKey, sameDevice} from '../daemon/model/identity';

const U = '0a1b2c3d-0000-4000-8000-00000000abcd';
const ns = {name: 'dax0.0', daxRegion: 0, ranges: [{start: 0x201200000n, size: 1n << 30n}], uuids: {namespace: U, infoBlock: '11111111-2222-4333-8444-555555555555'}};
const hmem = {name: 'dax1.0', daxRegion: 1, ranges: [{start: 0x50000000n, size: 256n << 20n}], uuids: {}};

test('the key of a live device is the key of its strongest match', (t) => {
  t.is(deviceKey(ns), `uuid:${U}`);
  t.is(deviceKey(hmem), 'res:1:0x50000000');
  t.is(deviceKey({name: 'dax2.0', daxRegion: 2, ranges: [], uuids: {}}), 'dax:dax2.0');
  for (const d of [ns, hmem]) t.is(matchKey(deviceMatch(d)), deviceKey(d));
  t.is(matchKey({resource: 0x50000000n}), 'res:*:0x50000000');
});

test('a match names a device by either uuid (any case), by place (region optional) or by name, never falling back to a weaker one', (t) => {
  t.is(matchStrength({uuid: U.toUpperCase()}, ns), 'uuid');
  t.is(matchStrength({uuid: ns.uuids.infoBlock}, ns), 'uuid');
  t.is(matchStrength({uuid: U}, hmem), undefined);
  t.is(matchStrength({resource: 0x50000000n}, hmem), 'resource');
  t.is(matchStrength({resource: 0x50000000n, daxRegion: 1}, hmem), 'resource');
  t.is(matchStrength({resource: 0x50000000n, daxRegion: 3}, hmem), undefined);
  t.is(matchStrength({dax: 'dax1.0'}, hmem), 'dax');
  t.is(matchStrength({uuid: '99999999-9999-4999-8999-999999999999', dax: 'dax0.0'}, ns), undefined, 'a uuid rule for another device does not match by name');
});

test('two matches are the same device when they name it the same way', (t) => {
  t.true(sameDevice({resource: 0x50000000n}, {resource: 0x50000000n, daxRegion: 1}));
  t.false(sameDevice({resource: 0x50000000n, daxRegion: 0}, {resource: 0x50000000n, daxRegion: 1}));
  t.true(sameDevice({uuid: U}, {uuid: U}));
  t.false(sameDevice({uuid: U}, {dax: 'dax0.0'}));
});

test('a CXL region keeps its key when it is made again under other kernel names: the key is its memdevs by serial', (t) => {
  // Boot 1: region0 over mem0, mem1. Boot 2: the memdevs probed the other way round and the
  // region came back as region3: the operator's record and a [region] section still find it.
  const boot1 = {memdevs: [{name: 'mem0', serial: 0x1001n}, {name: 'mem1', serial: 0x1000n}]};
  const boot2 = {memdevs: [{name: 'mem0', serial: 0x1000n}, {name: 'mem1', serial: 0x1001n}, {name: 'mem2', serial: 0x1002n}]};
  const key = liveCxlRegionKey(boot1, {memdevs: ['mem0', 'mem1']});
  t.is(key, cxlRegionKey([0x1000n, 0x1001n]));
  t.is(liveCxlRegionKey(boot2, {memdevs: ['mem1', 'mem0']}), key);
  t.not(liveCxlRegionKey(boot2, {memdevs: ['mem1', 'mem2']}), key);
  t.is(liveCxlRegionKey({memdevs: [{name: 'mem0'}]}, {memdevs: ['mem0']}), undefined, 'a memdev without a serial gives no key');
  // The kinds of key, each built here and read back by its kind.
  t.is(keyKind(key!), 'cxl');
  t.is(keyKind(hmemRangeKey(0x50000000n)), 'hmem');
  t.is(keyKind(nvdimmRegionKey('region0')), 'region');
  t.is(keyKind(deviceKey(ns)), 'uuid');
  t.is(keyKind(deviceKey(hmem)), 'res');
  t.is(keyKind('nonsense'), undefined);
});

// A device's identity is said once (model/identity.ts): a rule, a reservation, an operator record
// and daxramd's view of a device must agree on whether they mean the same device.

import test from 'ava';
import {deviceKey, deviceMatch, matchKey, matchStrength, sameDevice} from '../daemon/model/identity';

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

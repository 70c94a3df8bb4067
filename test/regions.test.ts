// [region NAME] sections (config/regions.ts) and how daxramd's declarations combine them with
// the operator's records (daxramd/declared.ts): one key per piece of capacity, records first.

import test from 'ava';
import {ConfigError} from '../daemon/errors';
import {parseConfig} from '../daemon/config/config';
import {cxlRegionKey, hmemRangeKey} from '../daemon/model/identity';
import {declarationsOf, describeDeclaration} from '../daemon/daxramd/declared';
import type {OperatorRecord} from '../daemon/config/state';

const conf = (text: string) => parseConfig([{file: '/etc/daxram/daxram.conf', text}]);
const GiB = 1n << 30n;
const MiB = 1n << 20n;

test('a CXL region by memdev serials (hex as sysfs writes them, decimal as cxl list does) and an hmem range by start', (t) => {
  const cfg = conf(`
[region expander]
memdevs = 0x1001, 4096   # cxl list -M prints serials in decimal
size = 1G
ram = 512M
zone = normal

[region hbm]
range = 0x50000000
ram = 128M
online = false
`);
  t.is(cfg.regions.length, 2);
  const [cxl, hmem] = cfg.regions;
  t.like(cxl, {label: 'expander', key: 'cxl:0x1000,0x1001', size: GiB, ram: 512n * MiB, zone: 'normal', online: true});
  t.is(cxl.key, cxlRegionKey([0x1000n, 0x1001n]), 'the key the operator record of the same region has');
  t.like(hmem, {label: 'hbm', key: hmemRangeKey(0x50000000n), range: 0x50000000n, size: undefined, ram: 128n * MiB, online: false});
  t.like(conf('[region a]\nmemdevs = 0x1\nsize = all\nram = all\n').regions[0], {size: undefined, ram: undefined});
  t.is(conf('[region a]\nmemdevs = 0x1\nram = 0\n').regions[0].ram, 0n, 'ram = 0: all devdax');
});

test('bad [region] sections are errors naming the line and the fix', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['[region]\nmemdevs = 0x1\n', /needs one NAME/],
    ['[region a]\nram = 1G\n', /says nothing about which capacity/],
    ['[region a]\nmemdevs = 0x1\nrange = 0x50000000\n', /pick one/],
    ['[region a]\nmemdevs = mem0,mem1\n', /not a list of memdev serial numbers/],
    ['[region a]\nmemdevs = 0x1,1\n', /names a memdev twice/],
    ['[region a]\nmemdevs = 0x10000000000000000\n', /not a list of memdev serial numbers/],
    ['[region a]\nrange = 0x50000000\nsize = 1G\n', /size = is for CXL regions/],
    ['[region a]\nmemdevs = 0x1\nsize = 1G\nram = 2G\n', /ram = is larger than size/],
    ['[region a]\nmemdevs = 0x1\nsize = 0\n', /no capacity/],
    ['[region a]\nmemdevs = 0x1\nram = lots\n', /not a size/],
    ['[region a]\nmemdevs = 0x1\nzone = dma\n', /not one of movable, normal/],
    ['[region a]\nmemdevs = 0x1\nmode = ram\n', /unknown key "mode"/],
    ['[region a]\nmemdevs = 0x1\n[region b]\nmemdevs = 1\n', /declares the same capacity as \[region a\]/],
    ['[region a]\nmemdevs = 0x1\n[region a]\nmemdevs = 0x2\n', /has the same name/],
    ['[region a]\nmemdevs = 0x1,0x2\n[region b]\nmemdevs = 0x2,0x3\n', /shares a memdev with \[region a\]/],
  ];
  for (const [text, re] of bad) {
    const e = t.throws(() => conf(text), {instanceOf: ConfigError}, text) as ConfigError;
    t.regex(e.message, /^\/etc\/daxram\/daxram\.conf:\d+: /, text);
    t.regex(e.message, re, text);
  }
});

const rec = (r: Partial<OperatorRecord> & Pick<OperatorRecord, 'key'>): OperatorRecord => ({device: 'x', mode: 'ram', action: 'provision', at: '2026-12-03T00:00:00Z', ...r});

test('declarations: an operator record wins over the [region] of the same capacity; each key once', (t) => {
  const cfg = conf('[region exp]\nmemdevs = 0x1000,0x1001\nram = 256M\n[region other]\nmemdevs = 0x1002\n[region hbm]\nrange = 0x50000000\n');
  const records = [
    rec({key: 'cxl:0x1000,0x1001', memdevs: ['0x1001', '0x1000'], size: String(GiB), ram: String(512n * MiB), action: 'reassign'}),
    rec({key: 'uuid:48d8e42c-a2f0-4312-9e70-a837faafe862'}),
  ];
  const d = declarationsOf(cfg, records);
  t.deepEqual(d.map((x) => x.key), ['cxl:0x1000,0x1001', 'cxl:0x1002', 'hmem:0x50000000']);
  t.like(d[0], {config: false, size: GiB, ram: 512n * MiB, online: true, zone: 'movable'});
  t.regex(d[0].by, /^daxram reassign at /);
  t.like(d[1], {config: true, size: undefined, ram: undefined, by: '[region other] /etc/daxram/daxram.conf:4'});
  t.like(d[2], {config: true, start: 0x50000000n, size: undefined});
  t.is(describeDeclaration(d[0]), 'CXL region over memdev serial 0x1001, 0x1000, 1.00 GiB: 512.00 MiB System RAM, the rest devdax (online, movable)');
  t.is(describeDeclaration(d[1]), 'CXL region over memdev serial 0x1002, all their free capacity: all System RAM (online, movable)');
});

test('declarations: a provision record without a split is the whole region as RAM; --no-online or devdax is not onlined', (t) => {
  const d = declarationsOf(conf(''), [
    rec({key: 'cxl:0x1', memdevs: ['0x1'], size: String(GiB)}),
    rec({key: 'cxl:0x2', memdevs: ['0x2'], size: String(GiB), mode: 'devdax'}),
    rec({key: 'hmem:0x50000000', size: String(256n * MiB), ram: String(128n * MiB), action: 'reassign', online: false}),
  ]);
  t.like(d[0], {ram: undefined, online: true});
  t.like(d[1], {online: false});
  t.like(d[2], {start: 0x50000000n, size: 256n * MiB, ram: 128n * MiB, online: false});
});

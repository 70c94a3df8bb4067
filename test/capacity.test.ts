// Capacity decisions that need no kernel: how a CXL region is designed from a topology, how a
// dynamic dax region is split, where struct pages go, and the tiering switch's record. The
// writes themselves are proven in the guests (test/kernel/cxl-provision.test.ts).

import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {designCxlRegion, isMemdevList, parseMemdevList} from '../daemon/engine/cxl-design';
import {layoutDaxRegion} from '../daemon/engine/dax-layout';
import {decideMemmap, poisonInMemmapArea} from '../daemon/engine/memmap';
import {memmapPerBlock, type MemmapFacts} from '../daemon/model/memmap';
import {doTiering as applyTiering, TIERING_RECORD} from '../daemon/engine/tiering';
import {readTiering, tierOf} from '../daemon/model/tiers';
import {blockRanges, normalize, parseIdRanges} from '../daemon/util/ranges';
import fc from 'fast-check';
import {Sysfs} from '../daemon/sysfs';
import {NotFoundError, PathValidationError, UsageError} from '../daemon/errors';
import {parseConfig} from '../daemon/config/config';
import type {CxlDecoder, CxlTopology} from '../daemon/model/cxl/types';

const GiB = 1n << 30n;
const MiB = 1n << 20n;

/** QEMU's layout: one root decoder (window at 0x590000000, 4 GiB) over host bridge 12, two root ports, one memdev each. */
function topology(o: {free?: bigint[]; hostBridges?: number; regions?: CxlTopology['regions']} = {}): CxlTopology {
  const hbs = o.hostBridges ?? 1;
  const ports: CxlTopology['ports'] = [{name: 'root0', kind: 'root', dir: '/r', host: 'ACPI0017:00', decoders: ['decoder0.0'], dports: Array.from({length: hbs}, (_, i) => ({id: 12 + i, dir: `/acpi/hb${i}`}))}];
  const decoders: CxlDecoder[] = [
    {name: 'decoder0.0', kind: 'root', port: 'root0', dir: '/r/decoder0.0', start: 0x590000000n, size: 4n * GiB, interleaveWays: hbs, interleaveGranularity: 256, targets: Array.from({length: hbs}, (_, i) => String(12 + i)), capRam: true, nextRegion: 'region0'},
  ];
  const memdevs: CxlTopology['memdevs'] = [];
  const free = o.free ?? [GiB, GiB];
  free.forEach((f, i) => {
    const hb = i % hbs;
    const hbPort = `port${hb + 1}`;
    if (!ports.some((p) => p.name === hbPort)) ports.push({name: hbPort, kind: 'switch', dir: `/r/${hbPort}`, host: `pci0000:${hb}c`, parent: 'root0', parentDport: `/acpi/hb${hb}`, decoders: [], dports: []});
    const p = ports.find((x) => x.name === hbPort)!;
    p.dports.push({id: i, dir: `/pci/rp${i}`});
    const ep = `endpoint${10 + i}`;
    ports.push({name: ep, kind: 'endpoint', dir: `/r/${hbPort}/${ep}`, host: `mem${i}`, parent: hbPort, parentDport: `/pci/rp${i}`, decoders: [`decoder${10 + i}.0`, `decoder${10 + i}.1`], dports: []});
    decoders.push({name: `decoder${10 + i}.0`, kind: 'endpoint', port: ep, dir: '', start: 0n, size: 0n, interleaveWays: 1, interleaveGranularity: 256, targets: [], mode: 'ram', dpaSize: f < GiB ? GiB - f : 0n, region: f < GiB ? 'region9' : undefined});
    decoders.push({name: `decoder${10 + i}.1`, kind: 'endpoint', port: ep, dir: '', start: 0n, size: 0n, interleaveWays: 1, interleaveGranularity: 256, targets: [], mode: 'none', dpaSize: 0n});
    memdevs.push({name: `mem${i}`, id: i, dir: `/pci/rp${i}/dev`, host: `0000:0${i}:00.0`, ramSize: GiB, pmemSize: 0n, numaNode: 0, poisonList: true, dev: `/dev/cxl/mem${i}`, endpoint: ep, ramFree: f});
  });
  return {memdevs, ports, decoders, regions: o.regions ?? []};
}

test('memdev lists: names checked, no repeats', (t) => {
  t.deepEqual(parseMemdevList('mem0, mem1'), ['mem0', 'mem1']);
  t.true(isMemdevList('mem0,mem1'));
  t.false(isMemdevList('region0'));
  t.throws(() => parseMemdevList('mem0,mem0'), {instanceOf: UsageError, message: /mem0 is named twice/});
  t.throws(() => parseMemdevList('mem0,dax0.0'), {instanceOf: UsageError});
});

test('two memdevs behind one host bridge: 2-way at the root decoder granularity, all their common free capacity, positions in root-port order', (t) => {
  const d = designCxlRegion(topology(), ['mem1', 'mem0']);
  t.like(d, {rootDecoder: 'decoder0.0', region: 'region0', ways: 2, granularity: 256, perDevice: GiB, size: 2n * GiB});
  t.deepEqual(d.targets.map((x) => [x.position, x.memdev, x.decoder]), [[0, 'mem0', 'decoder10.0'], [1, 'mem1', 'decoder11.0']]);
  t.true(d.notes.some((n) => /2 way\(s\), 256 B granularity/.test(n)));
});

test('the least free memdev sets the share; --size must be whole 256 MiB per memdev and fit', (t) => {
  const topo = topology({free: [GiB, 512n * MiB]});
  const d = designCxlRegion(topo, ['mem0', 'mem1']);
  t.is(d.size, GiB);
  t.deepEqual(d.targets.map((x) => x.decoder), ['decoder10.0', 'decoder11.1'], "mem1's first decoder is in use: its next one");
  t.is(designCxlRegion(topology(), ['mem0', 'mem1'], {size: 512n * MiB}).perDevice, 256n * MiB);
  t.throws(() => designCxlRegion(topology(), ['mem0', 'mem1'], {size: 256n * MiB}), {instanceOf: UsageError, message: /not a multiple of 512\.00 MiB/});
  t.throws(() => designCxlRegion(topo, ['mem0', 'mem1'], {size: 2n * GiB}), {instanceOf: UsageError, message: /the least free has 512\.00 MiB/});
});

test('refusals name the memdev and the way out', (t) => {
  t.throws(() => designCxlRegion(topology(), ['mem7']), {instanceOf: NotFoundError, message: /no such CXL memdev/});
  const used = topology({free: [0n, GiB], regions: [{name: 'region9', id: 9, dir: '', rootDecoder: 'decoder0.0', mode: 'ram', resource: 0x590000000n, size: GiB, interleaveWays: 1, interleaveGranularity: 256, targets: ['decoder10.0'], decodeState: 'commit', memdevs: ['mem0'], hostBridges: []}]});
  const e = t.throws(() => designCxlRegion(used, ['mem0'])) as UsageError;
  t.regex(e.message, /mem0 has no free volatile capacity/);
  t.regex(e.fix ?? '', /daxram release region9/);
  t.throws(() => designCxlRegion(topology({free: [GiB, GiB, GiB]}), ['mem0', 'mem1', 'mem2']), {message: /is not an interleave the kernel builds/});
  // Two host bridges, one window over only the first: no root decoder takes both.
  const two = topology({hostBridges: 2});
  two.decoders[0].targets = ['12'];
  two.decoders[0].interleaveWays = 1;
  t.throws(() => designCxlRegion(two, ['mem0', 'mem1']), {instanceOf: UsageError, message: /no root decoder takes RAM regions across host bridge\(s\) 12, 13/});
});

test('two host bridges under one 2-way window: positions alternate bridges in the window order', (t) => {
  const d = designCxlRegion(topology({hostBridges: 2, free: [GiB, GiB, GiB, GiB]}), ['mem0', 'mem1', 'mem2', 'mem3']);
  t.is(d.ways, 4);
  // mem0, mem2 under bridge 12; mem1, mem3 under 13: position p goes to bridge p mod 2.
  t.deepEqual(d.targets.map((x) => x.memdev), ['mem0', 'mem1', 'mem2', 'mem3']);
  t.deepEqual(d.targets.map((x) => x.hostBridge), ['pci0000:0c', 'pci0000:1c', 'pci0000:0c', 'pci0000:1c']);
});

test('a dynamic dax region splits at a block boundary: RAM from the start, devdax the rest', (t) => {
  const bs = 128n * MiB;
  const l = layoutDaxRegion(0x50000000n, 256n * MiB, 2n * MiB, bs, 100n * MiB);
  t.like(l, {ramSize: 128n * MiB, ramBytes: 128n * MiB, devdaxSize: 128n * MiB});
  t.true(l.notes.some((n) => /rounded up to whole memory blocks/.test(n)));
  t.like(layoutDaxRegion(0x50000000n, 256n * MiB, 2n * MiB, bs, 0n), {ramSize: 0n, devdaxSize: 256n * MiB});
  t.like(layoutDaxRegion(0x50000000n, 256n * MiB, 2n * MiB, bs, 256n * MiB), {ramSize: 256n * MiB, devdaxSize: 0n});
  t.throws(() => layoutDaxRegion(0x50000000n, 256n * MiB, 2n * MiB, bs, 384n * MiB), {instanceOf: UsageError, message: /holds 256\.00 MiB of whole 128\.00 MiB memory blocks/});
  // A start inside a block: that head belongs to the RAM device but is never added.
  const off = layoutDaxRegion(0x54000000n, 512n * MiB, 2n * MiB, bs, 128n * MiB);
  t.is(off.ramSize, 192n * MiB);
  t.is(off.ramBytes, 128n * MiB);
});

test('struct pages: 2 MiB per 128 MiB block; device where the kernel allows, DRAM with the reason and the saving otherwise', (t) => {
  const bs = 128n * MiB;
  t.is(memmapPerBlock(bs), 2n * MiB);
  const f = (o: Partial<MemmapFacts>): MemmapFacts => ({param: 'on', perDevice: true, attr: false, perBlock: 2n * MiB, ...o});
  t.like(decideMemmap('device', f({}), 'dax0.0', 8), {write: '1', where: 'device', dram: 0n, bytes: 16n * MiB});
  t.like(decideMemmap('device', f({attr: true}), 'dax0.0', 8), {write: undefined, where: 'device'});
  const off = decideMemmap('device', f({param: 'off'}), 'dax0.0', 8);
  t.like(off, {where: 'dram', dram: 16n * MiB});
  t.regex(off.warning ?? '', /memory_hotplug\.memmap_on_memory=1 would .* save 16\.00 MiB of DRAM/);
  t.regex(decideMemmap('device', f({perDevice: false, attr: undefined}), 'dax0.0', 8).warning ?? '', /6\.8 or later/);
  t.like(decideMemmap('dram', f({attr: true}), 'dax0.0', 8), {write: '0', where: 'dram'});
  // Poison where the struct pages would go: DRAM, said so.
  t.true(poisonInMemmapArea([{start: 10n * bs + 4096n, size: 4096n}], [10, 11], bs, 2n * MiB));
  t.false(poisonInMemmapArea([{start: 10n * bs + 4n * MiB, size: 4096n}], [10, 11], bs, 2n * MiB));
  t.regex(decideMemmap('device', f({attr: true}), 'dax0.0', 8, true).warning ?? '', /poison lies in the struct-page area/);
});

function tieringRoot(o: {demotion?: string; nb?: string; boot?: string} = {}): {root: string; sysfs: Sysfs; state: string} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-tier-'));
  const w = (p: string, v: string) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true});
    fs.writeFileSync(path.join(root, p), v);
  };
  w('sys/kernel/mm/numa/demotion_enabled', o.demotion ?? 'false\n');
  w('proc/sys/kernel/numa_balancing', o.nb ?? '1\n');
  w('proc/sys/kernel/random/boot_id', o.boot ?? 'boot-a\n');
  w('sys/devices/virtual/memory_tiering/memory_tier4/nodelist', '0-1\n');
  w('sys/devices/virtual/memory_tiering/memory_tier22/nodelist', '2\n');
  return {root, sysfs: new KernelLikeSysfs(root), state: path.join(root, 'var/lib/daxram')};
}

/** Fixture files do not truncate on write as kernel attributes do: the writes are validated, then replace the content. */
class KernelLikeSysfs extends Sysfs {
  override writeAttr(dir: string, name: string, attr: string, value: string): void {
    fs.writeFileSync(this.p(this.validate(dir, name, attr)), value);
  }
  override writeSysctl(name: string, value: string): void {
    fs.writeFileSync(this.p(`/proc/sys/${name}`), value);
  }
}

test('memory tiers are read per node; node lists parse like the kernel prints them', (t) => {
  const {root, sysfs} = tieringRoot();
  t.teardown(() => fs.rmSync(root, {recursive: true, force: true}));
  t.deepEqual(parseIdRanges('0-2,5'), [0, 1, 2, 5]);
  const st = readTiering(sysfs);
  t.deepEqual(st.tiers, [{id: 4, nodes: [0, 1]}, {id: 22, nodes: [2]}]);
  t.is(tierOf(st.tiers, 2), 22);
  t.like(st, {demotion: false, numaBalancing: 1, promotion: false});
});

test('tiering on: switches set while RAM is online, recorded first, restored when it goes; off restores a leftover record; a record from another boot is dropped', (t) => {
  const {root, sysfs, state} = tieringRoot();
  t.teardown(() => fs.rmSync(root, {recursive: true, force: true}));
  const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8').trim();
  t.is(applyTiering(sysfs, state, true, false).action, 'none', 'no RAM online: nothing');
  const a = applyTiering(sysfs, state, true, true);
  t.is(a.action, 'applied');
  t.is(read('sys/kernel/mm/numa/demotion_enabled'), '1');
  t.is(read('proc/sys/kernel/numa_balancing'), '3', 'the tiering bit added to normal balancing');
  t.like(JSON.parse(fs.readFileSync(path.join(state, TIERING_RECORD), 'utf8')), {demotion: false, numaBalancing: 1, bootId: 'boot-a'});
  t.is(applyTiering(sysfs, state, true, true).action, 'none', 'idempotent');
  // daxramd restarted with tiering off (or after a crash): the record brings the values back.
  const r = applyTiering(sysfs, state, false, true);
  t.is(r.action, 'restored');
  t.is(read('sys/kernel/mm/numa/demotion_enabled'), '0', 'restored as the kernel takes it');
  t.is(read('proc/sys/kernel/numa_balancing'), '1');
  t.false(fs.existsSync(path.join(state, TIERING_RECORD)));
  // A record left by an earlier boot describes nothing on this one.
  applyTiering(sysfs, state, true, true);
  fs.writeFileSync(path.join(root, 'proc/sys/kernel/random/boot_id'), 'boot-b\n');
  fs.writeFileSync(path.join(root, 'proc/sys/kernel/numa_balancing'), '0\n');
  fs.writeFileSync(path.join(root, 'sys/kernel/mm/numa/demotion_enabled'), 'false\n');
  t.is(applyTiering(sysfs, state, true, false).action, 'none');
  t.false(fs.existsSync(path.join(state, TIERING_RECORD)));
});

test('config: memmap per device, tiering in [daemon]; bad values name the line', (t) => {
  const cfg = parseConfig([{file: 'd.conf', text: '[daemon]\ntiering = on\n\n[device a]\nresource = 0x50000000\nmode = ram\nmemmap = dram\n'}]);
  t.is(cfg.daemon.tiering, 'on');
  t.is(cfg.devices[0].gates.memmap, 'dram');
  t.throws(() => parseConfig([{file: 'd.conf', text: '[daemon]\ntiering = maybe\n'}]), {message: /d\.conf:2/});
  t.throws(() => parseConfig([{file: 'd.conf', text: '[device a]\nresource = 0x1\nmode = ram\nmemmap = disk\n'}]), {message: /d\.conf:4/});
});

test('writeSysctl writes only a /proc/sys file that is itself', (t) => {
  const {root} = tieringRoot();
  t.teardown(() => fs.rmSync(root, {recursive: true, force: true}));
  const s = new Sysfs(root);
  t.throws(() => s.writeSysctl('../../etc/passwd', '1'), {message: /not a sysctl name/});
  t.throws(() => s.writeSysctl('kernel', '1'), {message: /not a sysctl name/});
  const demotion = path.join(root, 'sys/kernel/mm/numa/demotion_enabled');
  const before = fs.readFileSync(demotion, 'utf8');
  // A link as the file, or on the way to it: refused, and the file it leads to is not written.
  fs.symlinkSync(demotion, path.join(root, 'proc/sys/kernel/sneaky'));
  t.throws(() => s.writeSysctl('kernel/sneaky', '1'), {instanceOf: PathValidationError, message: /refusing to write \/proc\/sys\/kernel\/sneaky/});
  fs.symlinkSync(path.dirname(demotion), path.join(root, 'proc/sys/trap'));
  t.throws(() => s.writeSysctl('trap/demotion_enabled', '1'), {instanceOf: PathValidationError, message: /resolves to \/sys\/kernel\/mm\/numa\/demotion_enabled/});
  t.is(fs.readFileSync(demotion, 'utf8'), before);
  s.writeSysctl('kernel/numa_balancing', '2');
  t.is(fs.readFileSync(path.join(root, 'proc/sys/kernel/numa_balancing'), 'utf8')[0], '2');
});

test('blockRanges: the byte ranges of a set of block ids, as normalize of one range per block makes them', (t) => {
  const bs = 128n << 20n;
  t.deepEqual(blockRanges([5, 3, 4, 9, 9, 1], bs), [
    {start: bs, size: bs},
    {start: 3n * bs, size: 3n * bs},
    {start: 9n * bs, size: bs},
  ]);
  t.deepEqual(blockRanges(new Set<number>(), bs), []);
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.nat(200)), (ids) => JSON.stringify(blockRanges(ids, bs), (_, v) => (typeof v === 'bigint' ? `${v}` : v)) === JSON.stringify(normalize(ids.map((id) => ({start: BigInt(id) * bs, size: bs}))), (_, v) => (typeof v === 'bigint' ? `${v}` : v))),
      {numRuns: 500, seed: 7},
    ),
  );
});

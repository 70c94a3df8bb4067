// The platform model over fixture trees: every attribute parse, the links both ways, and what
// malformed sysfs turns into (a SysfsError naming the path, or a warning for a half-removed
// device) — never a raw TypeError.

import test from 'ava';
import * as fs from 'node:fs';
import {Sysfs} from '../daemon/sysfs';
import {SysfsError} from '../daemon/errors';
import {memblockSummary, scanPlatform} from '../daemon/model/scan';
import {parseBlockSize, readAutoOnline, readHotplug} from '../daemon/model/hotplug';
import {blockScan, BlockNodes, DeviceBlocks, parsePhysIndex, parseValidZones, readBlockNodes, readDeviceBlocks, readMemBlock} from '../daemon/model/memblock';
import fc from 'fast-check';
import {parseScrub, parseWords} from '../daemon/model/bus';
import {parseBadblocks, parseRegionMapping} from '../daemon/model/region';
import {parseMapLocation, parseNamespaceMode} from '../daemon/model/namespace';
import {kmemCapacity, modeOfDriver, parseDaxOrigin, readDax} from '../daemon/model/dax';
import {buildFixture, FixtureSpec, GiB, MiB, NFIT_TEST_COMMANDS, writeZoneinfo} from './helpers/fixture';

/** The guest's shape: QEMU NVDIMM at 8 GiB on node 1, a 1 GiB devdax namespace onlined by kmem, a 512 MiB one in devdax. */
const QEMU: FixtureSpec = {
  ram: [{start: 0n, size: 2n * GiB, node: 0}],
  buses: [
    {
      regions: [
        {
          start: 8n * GiB,
          size: 2n * GiB,
          targetNode: 1,
          badblocks: [[(1024 * 1024 * 1024) / 512 + 8, 1]],
          namespaces: [
            {mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}},
            {mode: 'devdax', size: 512n * MiB},
          ],
        },
      ],
    },
    {provider: 'nfit_test.0', commands: NFIT_TEST_COMMANDS, scrub: '2+', dimms: [{security: 'frozen', flags: ['not_armed']}, {security: 'disabled'}], regions: [{start: 4n * GiB, size: 32n * MiB, namespaces: [{mode: 'fsdax', map: 'mem'}]}]},
  ],
  hmem: [{start: 16n * GiB, size: 4n * GiB, targetNode: 2, driver: null}],
};

function fixture(t: {teardown(fn: () => void): void}, spec: FixtureSpec = QEMU) {
  const fx = buildFixture(spec);
  t.teardown(fx.cleanup);
  return fx;
}

test('attribute parsers: hotplug and memory blocks', (t) => {
  t.is(parseBlockSize('8000000', 'x'), 128n * MiB);
  t.is(parseBlockSize('0x80000000', 'x'), 2n * GiB);
  t.throws(() => parseBlockSize('garbage', '/sys/devices/system/memory/block_size_bytes'), {instanceOf: SysfsError, message: /block_size_bytes/});
  t.throws(() => parseBlockSize('3000', 'x'), {instanceOf: SysfsError}); // not a power of two
  t.is(parsePhysIndex('00000047', 'x'), 0x47);
  t.throws(() => parsePhysIndex('zz', '/p'), {instanceOf: SysfsError, message: /\/p/});
  t.deepEqual(parseValidZones('Movable'), ['Movable']);
  t.deepEqual(parseValidZones('DMA32 Normal Movable\n'), ['DMA32', 'Normal', 'Movable']);
  t.deepEqual(parseValidZones(''), []);
});

test('attribute parsers: bus, region, namespace, dax', (t) => {
  t.deepEqual(parseScrub('3', 'x'), {count: 3, running: false});
  t.deepEqual(parseScrub('4+\n', 'x'), {count: 4, running: true});
  t.throws(() => parseScrub('busy', '/sys/x/nfit/scrub'), {instanceOf: SysfsError, message: /nfit\/scrub/});
  t.deepEqual(parseWords('ars_cap ars_start  clear_error\n'), ['ars_cap', 'ars_start', 'clear_error']);
  t.deepEqual(parseWords(''), []);
  t.deepEqual(parseBadblocks('16 1\n2048 8\n', 8n * GiB, 'x'), [
    {offset: 8192n, length: 512n, start: 8n * GiB + 8192n},
    {offset: 1048576n, length: 4096n, start: 8n * GiB + 1048576n},
  ]);
  t.deepEqual(parseBadblocks('', 0n, 'x'), []);
  t.throws(() => parseBadblocks('16\n', 0n, '/r/badblocks'), {instanceOf: SysfsError, message: /badblocks/});
  t.deepEqual(parseRegionMapping('nmem0,0,2147483648,0', 'x'), {dimm: 'nmem0', offset: 0n, length: 2147483648n, position: 0});
  t.deepEqual(parseRegionMapping('nmem3,4096,8192', 'x'), {dimm: 'nmem3', offset: 4096n, length: 8192n});
  t.throws(() => parseRegionMapping('garbage', '/r/mapping0'), {instanceOf: SysfsError});
  t.is(parseNamespaceMode('dax', 'x'), 'devdax');
  t.is(parseNamespaceMode('memory', 'x'), 'fsdax');
  t.is(parseNamespaceMode('safe', 'x'), 'sector');
  t.is(parseNamespaceMode('raw', 'x'), 'raw');
  t.throws(() => parseNamespaceMode('weird', '/ns/mode'), {instanceOf: SysfsError, message: /ns\/mode/});
  t.is(parseMapLocation('pmem'), 'dev');
  t.is(parseMapLocation('ram'), 'mem');
  t.is(parseMapLocation('none'), undefined);
  t.is(modeOfDriver('kmem'), 'system-ram');
  t.is(modeOfDriver('device_dax'), 'devdax');
  t.is(modeOfDriver(undefined), 'disabled');
  t.is(modeOfDriver('other'), 'unknown');
});

test('kmem capacity rounds every range inward to the block size', (t) => {
  const bs = 128n * MiB;
  // The guest's 1 GiB namespace: data 18 MiB in, 1006 MiB → 7 blocks, 896 MiB.
  t.deepEqual(kmemCapacity([{start: 8n * GiB + 18n * MiB, size: 1006n * MiB}], bs), {bytes: 896n * MiB, blocks: 7, runs: [[65, 72]]});
  // Two ranges each lose their own head and tail.
  const two = kmemCapacity([{start: 100n * MiB, size: 300n * MiB}, {start: 1024n * MiB, size: 256n * MiB}], bs);
  t.is(two.blocks, 2 + 2); // [128M, 384M) and [1024M, 1280M)
  t.is(two.bytes, 4n * bs);
  t.is(kmemCapacity([{start: 1n * MiB, size: 100n * MiB}], bs).blocks, 0);
  t.is(kmemCapacity([{start: 0n, size: GiB}], 0n).bytes, 0n);
});

test('label-less region: nothing allocatable, as libndctl reports it', (t) => {
  const fx = fixture(t, {ram: [{start: 0n, size: 2n * GiB, node: 0}], buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, labelless: true}, {start: 12n * GiB, size: 2n * GiB}]}]});
  const [io, pmem] = scanPlatform(fx.sysfs).regions;
  t.is(io.nstype, 4);
  t.is(io.available, 0n);
  t.is(io.maxAvailableExtent ?? 0n, 0n);
  t.is(pmem.nstype, 5);
  t.is(pmem.available, 2n * GiB);
});

test('dax origin from the resolved path: NVDIMM namespace, hmem range, CXL region', (t) => {
  const nd = '/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0';
  t.deepEqual(parseDaxOrigin(`${nd}/region0/dax0.0/dax0.0`), {
    real: `${nd}/region0/dax0.0/dax0.0`,
    kind: 'nvdimm',
    bus: 'ndbus0',
    busDir: nd,
    region: 'region0',
    regionDir: `${nd}/region0`,
    seed: 'dax0.0',
    seedDir: `${nd}/region0/dax0.0`,
  });
  t.deepEqual(parseDaxOrigin('/sys/devices/platform/hmem.0/dax1.0'), {real: '/sys/devices/platform/hmem.0/dax1.0', kind: 'hmem', provider: 'hmem.0'});
  const cxl = '/sys/devices/platform/ACPI0017:00/root0/decoder0.0/region0';
  t.deepEqual(parseDaxOrigin(`${cxl}/dax_region0/dax0.0`), {real: `${cxl}/dax_region0/dax0.0`, kind: 'cxl', provider: 'dax_region0', region: 'region0', regionDir: cxl});
});

test('scan reads every object of the QEMU-shaped tree', (t) => {
  const fx = fixture(t);
  const p = scanPlatform(fx.sysfs);
  t.deepEqual(p.warnings, []);
  t.deepEqual(p.hotplug, {blockSize: 128n * MiB, autoOnlineBlocks: 'offline', onlinePolicy: 'contig-zones', memmapOnMemory: 'off'});

  t.deepEqual(p.buses.map((b) => [b.name, b.provider, b.dev, b.scrubSupported, b.scrub]), [
    ['ndbus0', 'ACPI.NFIT', '/dev/ndctl0', true, {count: 0, running: false}],
    ['ndbus1', 'nfit_test.0', '/dev/ndctl1', true, {count: 2, running: true}],
  ]);
  t.deepEqual(p.buses[1].commands, NFIT_TEST_COMMANDS);
  t.deepEqual(p.dimms.map((d) => [d.name, d.security, d.flags, d.handle, d.physId, d.dev]), [
    ['nmem0', 'unsupported', [], 1, 0, '/dev/nmem0'],
    ['nmem1', 'frozen', ['not_armed'], 2, 1, '/dev/nmem1'],
    ['nmem2', 'disabled', [], 3, 2, '/dev/nmem2'],
  ]);

  const [r0, r1] = p.regions;
  t.is(r0.name, 'region0');
  t.is(r0.resource, 8n * GiB);
  t.is(r0.size, 2n * GiB);
  t.is(r0.align, 16n * MiB);
  t.is(r0.available, 512n * MiB);
  t.is(r0.targetNode, 1);
  t.is(r0.numaNode, 0);
  t.is(r0.devtype, 'nd_pmem');
  t.is(r0.persistenceDomain, undefined); // QEMU's NFIT: empty, ndctl says "unknown"
  t.false(r0.readOnly);
  t.true(r0.enabled);
  t.deepEqual(r0.badblocks, [{offset: GiB + 4096n, length: 512n, start: 9n * GiB + 4096n}]);
  t.deepEqual(r0.mappings, [{dimm: 'nmem0', offset: 0n, length: 2n * GiB, position: 0}]);
  t.is(r1.name, 'region1');

  // The idle namespace seeds (size 0) are not capacity and stay out of the model.
  t.deepEqual(p.namespaces.map((n) => [n.name, n.mode, n.map, n.size, n.usableSize, n.align, n.holder, n.enabled]), [
    ['namespace0.0', 'devdax', 'dev', GiB, 1006n * MiB, 2n * MiB, 'dax0.0', true],
    ['namespace0.1', 'devdax', 'dev', 512n * MiB, 502n * MiB, 2n * MiB, 'dax0.1', true],
    ['namespace1.0', 'fsdax', 'mem', 32n * MiB, 30n * MiB, 2n * MiB, 'pfn1.0', true],
  ]);
  t.regex(p.namespaces[0].uuid!, /^[0-9a-f-]{36}$/);
  t.regex(p.namespaces[0].claimUuid!, /^[0-9a-f-]{36}$/);
  t.not(p.namespaces[0].claimUuid, p.namespaces[0].uuid);

  const [d0, d1, h] = p.devices;
  t.is(d0.name, 'dax0.0');
  t.is(d0.sysPath, '/sys/bus/dax/devices/dax0.0');
  // As the guest shows it: 1 GiB namespace → 18 MiB info block + struct pages → 1006 MiB.
  t.is(d0.size, 1006n * MiB);
  t.deepEqual(d0.ranges, [{start: 8n * GiB + 18n * MiB, size: 1006n * MiB}]);
  t.is(d0.align, 2n * MiB);
  t.is(d0.targetNode, 1);
  t.is(d0.driver, 'kmem');
  t.is(d0.mode, 'system-ram');
  t.is(d0.kmemCapacity, 896n * MiB);
  t.is(d0.kmemBlocks, 7);
  t.is(d1.mode, 'devdax');
  t.is(d1.kmemBlocks, 3);
  t.is(d1.memblocks.length, 0);
  t.is(h.name, 'dax2.0');
  t.is(h.mode, 'disabled');
  t.is(h.driver, undefined);
  t.is(h.provider, 'hmem.0');
});

test('links go both ways: device → namespace → region → bus, region ↔ DIMMs', (t) => {
  const p = scanPlatform(fixture(t).sysfs);
  const [d0, d1, h] = p.devices;
  const ns = p.namespaces[0];
  const r0 = p.regions[0];
  const bus = p.buses[0];
  t.is(d0.namespace, ns);
  t.is(d0.region, r0);
  t.is(d0.bus, bus);
  t.deepEqual(ns.daxDevices, [d0]);
  t.is(ns.region, r0);
  t.deepEqual(r0.namespaces, [p.namespaces[0], p.namespaces[1]]);
  t.deepEqual(r0.daxDevices, [d0, d1]);
  t.is(r0.bus, bus);
  t.deepEqual(bus.regions, [r0]);
  t.deepEqual(bus.dimms, [p.dimms[0]]);
  t.deepEqual(r0.dimms, [p.dimms[0]]);
  t.deepEqual(p.dimms[0].regions, [r0]);
  t.is(p.dimms[0].bus, bus);
  // nfit_test's region interleaves both of its DIMMs.
  t.deepEqual(p.regions[1].dimms.map((d) => d.name), ['nmem1', 'nmem2']);
  t.deepEqual(p.dimms[2].regions, [p.regions[1]]);
  // hmem: no NVDIMM behind it, and that is fine.
  t.is(h.namespace, undefined);
  t.is(h.region, undefined);
  t.is(h.bus, undefined);
});

test('device → memory blocks: the blocks kmem added, with state, zone and node', (t) => {
  const p = scanPlatform(fixture(t).sysfs);
  const d0 = p.devices[0];
  t.deepEqual([...d0.memblocks].map((b) => b.id), [65, 66, 67, 68, 69, 70, 71]);
  for (const b of d0.memblocks) {
    t.is(b.state, 'online');
    t.deepEqual(b.validZones, ['Movable']);
    t.is(b.node, 1);
    t.is(b.start, BigInt(b.id) * 128n * MiB);
    t.deepEqual(d0.memblocks.get(b.id), b);
  }
  t.deepEqual(memblockSummary(d0), {online: 7, total: 7, movable: true});
  // Boot RAM blocks are not the device's.
  t.is(d0.memblocks.get(0), undefined);
  t.is(d0.memblocks.length, 7);
});

test('memory blocks: offline and kernel-zone states, summary like daxctl', (t) => {
  const fx = fixture(t, {
    buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, namespaces: [{mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: false}}, {mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'kernel'}}]}]}],
  });
  let p = scanPlatform(fx.sysfs);
  const [off, ker] = p.devices;
  t.deepEqual(memblockSummary(off), {online: 0, total: 7});
  t.false('movable' in memblockSummary(off));
  t.deepEqual([...off.memblocks][0].validZones, ['Normal', 'Movable']); // read on demand
  t.deepEqual(memblockSummary(ker), {online: 7, total: 7, movable: false});
  // Half online: one block offlined by hand.
  fx.write(`/sys/devices/system/memory/memory${[...ker.memblocks][0].id}/state`, 'offline\n');
  writeZoneinfo(fx.root); // the kernel's zones lose the block's pages as it goes offline
  p = scanPlatform(fx.sysfs);
  t.deepEqual(memblockSummary(p.devices[1]), {online: 6, total: 7, movable: false});
  // A removed block (kmem never added it) is simply not there.
  fx.rm(`/sys/devices/system/memory/memory${[...ker.memblocks][6].id}`);
  fx.rm(`/sys/devices/system/node/node1/memory${[...ker.memblocks][6].id}`);
  p = scanPlatform(fx.sysfs);
  t.is(p.devices[1].memblocks.length, 6);
});

test('a device\'s blocks: known from /proc/zoneinfo where a whole zone vouches for them, else each state read', (t) => {
  const fx = fixture(t, {buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, targetNode: 1, namespaces: [{mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}}, {mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: false}}]}]}]});
  const [on, off] = scanPlatform(fx.sysfs).devices;
  const ids = (d: typeof on) => [...d.memblocks].map((b) => b.id);
  // A state file that cannot be read proves nobody read it.
  const unreadable = (id: number) => {
    fx.rm(`/sys/devices/system/memory/memory${id}/state`);
    fs.mkdirSync(fx.path(`/sys/devices/system/memory/memory${id}/state`));
  };
  const first = ids(on)[0];
  unreadable(first);
  // Node 1's Movable zone is all present pages (the offline device's blocks lie above its span):
  // every block of `on` inside it is online in Movable without a read.
  let blocks = readDeviceBlocks(fx.sysfs, ids(on), 128n * MiB, 1);
  t.true([...blocks].every((b) => b.state === 'online' && b.validZones[0] === 'Movable' && b.node === 1));
  // The offline device's blocks are outside every span: read one by one.
  // Vouched blocks are made when asked and not kept (two asks, two objects); read ones are kept.
  t.not(blocks.get(ids(on)[1]), blocks.get(ids(on)[1]));
  blocks = readDeviceBlocks(fx.sysfs, ids(off), 128n * MiB, 1);
  t.true([...blocks].every((b) => b.state === 'offline'));
  t.is(blocks.get(ids(off)[0]), blocks.get(ids(off)[0]));
  t.is(blocks.get(ids(on)[0]), undefined);
  // Runs out of order and overlapping are the same blocks, each once, in id order.
  const all = [...ids(on), ...ids(off)].sort((x, y) => x - y);
  const scan = blockScan(fx.sysfs, 128n * MiB);
  const runs = DeviceBlocks.scanRuns(fx.sysfs, scan, [[all[5], all[all.length - 1] + 1], [all[0], all[7]], [all[2], all[3]]]);
  t.deepEqual([...runs].map((b) => [b.id, b.state]), [...DeviceBlocks.scan(fx.sysfs, scan, all)].map((b) => [b.id, b.state]));
  t.deepEqual([...runs].map((b) => b.id), all);
  t.is(runs.online, ids(on).length);
  // One block of the online device offlined in the middle: the zone has a hole, nothing vouches, every state is read.
  fx.rm(`/sys/devices/system/memory/memory${first}/state`);
  fx.write(`/sys/devices/system/memory/memory${first}/state`, 'online\n');
  fx.write(`/sys/devices/system/memory/memory${ids(on)[3]}/state`, 'offline\n');
  writeZoneinfo(fx.root);
  unreadable(first);
  t.throws(() => readDeviceBlocks(fx.sysfs, ids(on), 128n * MiB, 1), {message: new RegExp(`memory${first}/state`)});
});

test('node of a block: from node/nodeM links, else from the block\'s own nodeM link', (t) => {
  const fx = fixture(t);
  const nodes = readBlockNodes(fx.sysfs);
  t.is(nodes.get(65), 1);
  t.is(nodes.get(0), 0);
  fx.rm('/sys/devices/system/node/node1/memory66');
  const b = readMemBlock(fx.sysfs, 66, 128n * MiB, {nodes: readBlockNodes(fx.sysfs)});
  t.is(b?.node, 1);
  t.is(readMemBlock(fx.sysfs, 9999, 128n * MiB), undefined);
});

test('BlockNodes answers as a map from block id to node would, and counts each node\'s blocks', (t) => {
  // Disjoint id sets per node, each in any order: the kernel lists a block under one node.
  const perNode = fc.uniqueArray(fc.nat(5000), {maxLength: 300}).chain((ids) => fc.tuple(fc.constant(ids), fc.array(fc.nat(3), {minLength: ids.length, maxLength: ids.length})));
  t.notThrows(() =>
    fc.assert(
      fc.property(perNode, ([ids, nodeOf]) => {
        const want = new Map(ids.map((id, i) => [id, nodeOf[i]]));
        const lists = new Map<number, number[]>();
        for (const [id, n] of want) lists.set(n, [...(lists.get(n) ?? []), id]);
        const got = BlockNodes.of(lists);
        for (let id = -1; id <= 5001; id++) if (got.get(id) !== want.get(id)) return false;
        return [...lists].every(([n, l]) => got.counts.get(n) === l.length);
      }),
      {numRuns: 300, seed: 11},
    ),
  );
});

test('mappingN absent (pre-5.10): ranges come from resource + size', (t) => {
  const fx = fixture(t, {hmem: [{start: 16n * GiB, size: 4n * GiB, noMappings: true, driver: 'kmem'}]});
  const p = scanPlatform(fx.sysfs);
  t.deepEqual(p.devices[0].ranges, [{start: 16n * GiB, size: 4n * GiB}]);
  t.is(p.devices[0].memblocks.length, 32);
});

test('multi-range device: ranges in page_offset order, blocks from each', (t) => {
  const fx = fixture(t, {hmem: [{ranges: [{start: 32n * GiB, size: 256n * MiB}, {start: 16n * GiB, size: 512n * MiB}], driver: 'kmem'}]});
  const d = scanPlatform(fx.sysfs).devices[0];
  t.deepEqual(d.ranges.map((r) => r.start), [32n * GiB, 16n * GiB]);
  t.is(d.size, 768n * MiB);
  t.is(d.memblocks.length, 6);
});

test('garbage attribute content: SysfsError naming the path', (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['/sys/bus/dax/devices/dax0.0/size', 'lots\n', /dax0\.0\/size/],
    ['/sys/bus/dax/devices/dax0.0/target_node', 'one\n', /target_node/],
    ['/sys/bus/dax/devices/dax0.0/mapping0/start', '0xZZ\n', /mapping0\/start/],
    ['/sys/devices/system/memory/block_size_bytes', 'big\n', /block_size_bytes/],
    ['/sys/devices/system/memory/auto_online_blocks', 'sometimes\n', /auto_online_blocks/],
    ['/sys/devices/system/memory/memory65/state', 'melting\n', /memory65\/state/],
  ];
  for (const [file, content, re] of cases) {
    const fx = buildFixture(QEMU);
    try {
      // Without /proc/zoneinfo every block is read (with it, a wholly online node is not).
      fx.rm('/proc/zoneinfo');
      fx.write(file, content);
      const e = t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError}, file);
      t.regex(e!.message, re);
      t.truthy(e!.path, file);
    } finally {
      fx.cleanup();
    }
  }
});

test('garbage in nd attributes: SysfsError naming the path', (t) => {
  const fx = fixture(t);
  const region = fx.devicePath('region0');
  fx.write(`${region}/badblocks`, 'sixteen one\n');
  const e = t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError});
  t.regex(e!.message, /region0\/badblocks/);
  fx.write(`${region}/badblocks`, '');
  fx.write(`${fx.devicePath('ndbus1')}/nfit/scrub`, '??\n');
  t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError, message: /nfit\/scrub/});
  fx.write(`${fx.devicePath('ndbus1')}/nfit/scrub`, '0\n');
  fx.write(`${region}/mapping0`, 'bogus\n');
  t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError, message: /mapping0/});
  fx.write(`${region}/mapping0`, `nmem0,0,${2n * GiB},0\n`);
  fx.write(`${fx.devicePath('namespace0.0')}/mode`, 'strange\n');
  t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError, message: /namespace0\.0\/mode/});
});

test('half-removed devices are skipped with a warning (strict: SysfsError)', (t) => {
  const fx = fixture(t);
  // The directory is still listed but its attributes are gone, as during device teardown.
  fx.rm(`${fx.devicePath('dax0.1')}/size`);
  fx.rm(`${fx.devicePath('region1')}/size`);
  const p = scanPlatform(fx.sysfs);
  t.deepEqual(p.devices.map((d) => d.name), ['dax0.0', 'dax2.0']);
  t.deepEqual(p.regions.map((r) => r.name), ['region0']);
  t.is(p.warnings.length, 2);
  t.regex(p.warnings.join('\n'), /dax0\.1: skipped, \/sys\/bus\/dax\/devices\/dax0\.1\/size vanished/);
  t.regex(p.warnings.join('\n'), /region1: skipped/);
  // Objects in a skipped region are not half-linked into the model either.
  t.false(p.namespaces.some((n) => n.name === 'namespace1.0'));
  const e = t.throws(() => scanPlatform(fx.sysfs, {strict: true}), {instanceOf: SysfsError});
  t.is(e!.device, 'region1');
});

test('a dangling /sys/bus link (device gone between readdir and read) is a warning', (t) => {
  const fx = fixture(t);
  fx.rm(fx.devicePath('dax0.1'));
  const p = scanPlatform(fx.sysfs);
  t.deepEqual(p.devices.map((d) => d.name), ['dax0.0', 'dax2.0']);
  t.regex(p.warnings.join('\n'), /dax0\.1/);
});

test('missing optional files: no memory hotplug, no online_policy, no security, disabled region', (t) => {
  const fx = fixture(t, {
    onlinePolicy: null,
    buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, enabled: false, namespaces: []}]}],
    hmem: [{start: 16n * GiB, size: GiB, driver: 'kmem'}],
  });
  fs.rmSync(fx.path('/sys/devices/system/memory'), {recursive: true});
  const p = scanPlatform(fx.sysfs);
  t.is(p.hotplug.blockSize, 0n);
  t.is(p.hotplug.autoOnlineBlocks, 'unsupported');
  t.is(p.hotplug.onlinePolicy, undefined);
  t.regex(p.warnings[0], /block_size_bytes: absent/);
  t.is(p.devices[0].kmemCapacity, 0n);
  t.is(p.devices[0].memblocks.length, 0);
  t.false(p.regions[0].enabled);
  t.deepEqual(p.regions[0].badblocks, []);
  t.is(p.dimms[0].security, 'unsupported');
});

test('physical ranges unreadable (not root): device listed, warning, no blocks', (t) => {
  const fx = fixture(t);
  // mappingN/start is 0400; root reads it regardless of the mode bits, so the refusal is
  // injected the way the kernel reports it to an unprivileged reader: EACCES on read.
  class Unprivileged extends Sysfs {
    override readOptional(p: string, device?: string): string | undefined {
      if (/\/mapping\d+\/(start|end)$/.test(p)) {
        throw new SysfsError(`cannot read ${p}: EACCES: permission denied`, {path: p, device, cause: Object.assign(new Error('EACCES'), {code: 'EACCES'})});
      }
      return super.readOptional(p, device);
    }
  }
  const p = scanPlatform(new Unprivileged(fx.root));
  t.true(p.devices.length > 0);
  const d = p.devices.find((x) => x.name === 'dax0.0')!;
  t.deepEqual(d.ranges, []);
  t.is(d.kmemCapacity, 0n);
  t.is(d.memblocks.length, 0);
  t.regex(p.warnings.join(), /dax0\.0: cannot read its physical ranges .*EACCES.*run as root/);
  // A reader that acts on the device (not a list) does not paper over it.
  t.throws(() => readDax(new Unprivileged(fx.root), 'dax0.0'), {instanceOf: SysfsError, message: /EACCES/});
});

test('an empty root scans to an empty platform, not a crash', (t) => {
  const dir = fs.mkdtempSync('/tmp/daxram-empty-');
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  const p = scanPlatform(new Sysfs(dir));
  t.deepEqual([p.buses, p.regions, p.devices], [[], [], []]);
  t.is(p.hotplug.blockSize, 0n);
});

test('readHotplug reads memmap_on_memory (force is a state of its own) and online_policy; an unknown auto_online_blocks is an error', (t) => {
  const fx = fixture(t, {memmapOnMemory: true, onlinePolicy: 'auto-movable', autoOnlineBlocks: 'online_movable'});
  t.deepEqual(readHotplug(fx.sysfs, []), {blockSize: 128n * MiB, autoOnlineBlocks: 'online_movable', onlinePolicy: 'auto-movable', memmapOnMemory: 'on'});
  fs.writeFileSync(fx.path('/sys/module/memory_hotplug/parameters/memmap_on_memory'), 'force\n');
  t.is(readHotplug(fx.sysfs, []).memmapOnMemory, 'force');
  fs.writeFileSync(fx.path('/sys/devices/system/memory/auto_online_blocks'), 'sometimes\n');
  t.throws(() => readAutoOnline(fx.sysfs), {message: /auto_online_blocks: unexpected value "sometimes"/});
  t.throws(() => readHotplug(fx.sysfs, []), {message: /auto_online_blocks: unexpected value "sometimes"/});
});

test('fixture shape: kernel-like links and writable regular files', (t) => {
  const fx = fixture(t);
  const l = (p: string) => fs.readlinkSync(fx.path(p));
  t.is(l('/sys/bus/dax/devices/dax0.0'), '../../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0/region0/dax0.0/dax0.0');
  t.is(fx.sysfs.real('/sys/bus/dax/devices/dax0.0/driver'), '/sys/bus/dax/drivers/kmem');
  t.is(fx.sysfs.real('/sys/bus/dax/drivers/kmem/dax0.0'), '/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00/ndbus0/region0/dax0.0/dax0.0');
  t.is(fx.sysfs.real('/sys/devices/system/memory/memory65/node1'), '/sys/devices/system/node/node1');
  t.is(fx.sysfs.real('/sys/devices/system/node/node1/memory65'), '/sys/devices/system/memory/memory65');
  t.is(fx.sysfs.real('/sys/bus/nd/devices/ndbus1'), '/sys/devices/platform/nfit_test.0/ndbus1');
  for (const f of ['/sys/bus/dax/drivers/kmem/bind', '/sys/bus/dax/drivers/device_dax/new_id', '/sys/devices/system/memory/memory65/state']) {
    t.true(fs.lstatSync(fx.path(f)).isFile(), f);
  }
  // Sysfs.writeAttr accepts the fixture's objects, as it will the kernel's.
  fx.sysfs.writeAttr('/sys/devices/system/memory/memory65', 'memory65', 'state', 'offline');
  t.is(fx.read('/sys/devices/system/memory/memory65/state'), 'offline');
  fx.sysfs.writeAttr('/sys/bus/dax/drivers/kmem', 'kmem', 'unbind', 'dax0.0');
  t.is(fx.read('/sys/bus/dax/drivers/kmem/unbind'), 'dax0.0');
});

test('blocks of a node that zoneinfo shows wholly online (or offline) are not read one by one; a mixed node is', (t) => {
  const fx = buildFixture(QEMU);
  t.teardown(fx.cleanup);
  // A corrupt state file is only noticed when read: it is not, while node 1 is wholly online.
  fx.write('/sys/devices/system/memory/memory65/state', 'melting\n');
  const p = scanPlatform(fx.sysfs);
  const d = p.devices.find((x) => x.name === 'dax0.0')!;
  t.true(d.memblocks.length > 0 && [...d.memblocks].every((b) => b.state === 'online' && b.validZones[0] === 'Movable'));
  // zoneinfo one block short (a block is offline): node 1 is mixed, so every block is read.
  const zi = fx.read('/proc/zoneinfo').replace(/(Node 1, zone\s+Movable\n(?:.*\n)*?\s+present\s+)(\d+)/, (_m, a, n) => `${a}${Number(n) - 32768}`);
  fx.write('/proc/zoneinfo', zi);
  t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError, message: /memory65\/state/});
});

test('a node with boot DRAM beside its dax memory: a zone whose span is all present vouches for the blocks inside it; one page short, each is read', (t) => {
  const fx = buildFixture(QEMU);
  t.teardown(fx.cleanup);
  fx.write('/sys/devices/system/memory/memory65/state', 'melting\n');
  // Node 1 gains boot DRAM with holes (spanned > present, as below 4 GiB on a real host): the
  // node's zones no longer add up to its blocks, but its Movable zone is still all present.
  const dram = 'Node 1, zone   Normal\n  pages free     0\n        spanned  262144\n        present  200000\n        managed  200000\n  start_pfn:           4194304\n';
  fx.write('/proc/zoneinfo', fx.read('/proc/zoneinfo') + dram);
  const d = scanPlatform(fx.sysfs).devices.find((x) => x.name === 'dax0.0')!;
  t.true(d.memblocks.length > 0 && [...d.memblocks].every((b) => b.state === 'online' && b.validZones[0] === 'Movable'));
  // One page of the Movable span not present (a block offline in it): every block is read.
  const zi = fx.read('/proc/zoneinfo').replace(/(Node 1, zone\s+Movable\n(?:.*\n)*?\s+present\s+)(\d+)/, (_m, a, n) => `${a}${Number(n) - 1}`);
  fx.write('/proc/zoneinfo', zi);
  t.throws(() => scanPlatform(fx.sysfs), {instanceOf: SysfsError, message: /memory65\/state/});
});

// `daxram list` end to end: the built CLI (bin/daxram) over fixture trees via --root.

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {buildFixture, FixtureSpec, GiB, MiB} from './helpers/fixture';
import {VERBS} from '../daemon/cli/commands/verbs';

const BIN = path.join(__dirname, '..', '..', 'bin', 'daxram');

const SPEC: FixtureSpec = {
  buses: [
    {
      regions: [
        {
          start: 8n * GiB,
          size: 2n * GiB,
          targetNode: 1,
          badblocks: [[40000, 8]], // 19.5 MiB into the region: inside dax0.0, which starts 18 MiB in
          namespaces: [
            {mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}},
            {mode: 'devdax', size: 512n * MiB},
          ],
        },
      ],
    },
  ],
  hmem: [{start: 16n * GiB, size: 4n * GiB, targetNode: 2, driver: null}],
};

function run(root: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'list', '--root', root, ...args], {encoding: 'utf8'});
  return {status: r.status, stdout: r.stdout, stderr: r.stderr};
}

test('--json speaks daxctl for the shared fields, plus origin and kmem capacity', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  const r = run(fx.root, '--json');
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.deepEqual(j[0], {
    chardev: 'dax0.0',
    size: 1054867456, // 1006 MiB: a number, as daxctl prints it
    target_node: 1,
    align: 2097152,
    mode: 'system-ram',
    online_memblocks: 7,
    total_memblocks: 7,
    movable: true,
    numa_node: 0,
    origin: 'nvdimm',
    namespace: 'namespace0.0',
    region: 'region0',
    bus: 'ACPI.NFIT',
    badblocks: 1,
    kmem_capacity: 7 * 128 * 1024 * 1024,
    kmem_blocks: 7,
    mappings: [{page_offset: 0, start: 8608808960, end: 9663676415, size: 1054867456}],
  });
  // devdax: no memblock fields, no movable (daxctl prints them for system-ram only).
  t.is(j[1].mode, 'devdax');
  t.false('online_memblocks' in j[1]);
  t.false('movable' in j[1]);
  t.is(j[1].kmem_capacity, 3 * 128 * 1024 * 1024);
  t.is(j[1].badblocks, 0);
  // Unbound: daxctl's mode devdax + state disabled. No NVDIMM: provider instead of bus.
  t.is(j[2].chardev, 'dax1.0');
  t.is(j[2].mode, 'devdax');
  t.is(j[2].state, 'disabled');
  t.is(j[2].provider, 'hmem.0');
  t.false('namespace' in j[2]);
});

test('filters: device, region, bus, node', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  const names = (...a: string[]) => JSON.parse(run(fx.root, '--json', ...a).stdout).map((d: {chardev: string}) => d.chardev);
  t.deepEqual(names('-d', 'dax0.1'), ['dax0.1']);
  t.deepEqual(names('-d', '/dev/dax0.0,dax1.0'), ['dax0.0', 'dax1.0']);
  t.deepEqual(names('-r', '0'), ['dax0.0', 'dax0.1']);
  t.deepEqual(names('-r', 'region0'), ['dax0.0', 'dax0.1']);
  t.deepEqual(names('-b', 'ACPI.NFIT'), ['dax0.0', 'dax0.1']);
  t.deepEqual(names('-b', 'ndbus0'), ['dax0.0', 'dax0.1']);
  t.deepEqual(names('-n', '2'), ['dax1.0']);
  t.deepEqual(names('-n', '3'), []);
  t.deepEqual(names('-r', 'region0', '-n', '2'), []);
});

test('unknown device: exit 1, a NotFoundError naming it', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  const r = run(fx.root, '--json', '-d', 'dax9.9');
  t.is(r.status, 1);
  const e = JSON.parse(r.stderr);
  t.is(e.error, 'NotFoundError');
  t.is(e.device, 'dax9.9');
  const h = run(fx.root, '-d', 'dax9.9');
  t.regex(h.stderr, /dax9\.9: no dax device dax9\.9/);
});

test('-R -B -D add regions, buses and DIMMs in ndctl\'s field names', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  const j = JSON.parse(run(fx.root, '--json', '-R', '-B', '-D').stdout);
  t.is(j.devices.length, 3);
  t.like(j.buses[0], {provider: 'ACPI.NFIT', dev: 'ndbus0', scrub_state: 'idle', regions: ['region0'], dimms: ['nmem0']});
  t.like(j.regions[0], {dev: 'region0', size: 2147483648, align: 16777216, available_size: 536870912, type: 'pmem', target_node: 1, badblock_count: 1, persistence_domain: 'unknown', devices: ['dax0.0', 'dax0.1']});
  t.deepEqual(j.regions[0].mappings, [{dimm: 'nmem0', offset: 0, length: 2147483648, position: 0}]);
  t.like(j.regions[0].namespaces[0], {dev: 'namespace0.0', mode: 'devdax', map: 'dev', size: 1054867456, chardev: 'dax0.0', align: 2097152});
  t.like(j.dimms[0], {dev: 'nmem0', handle: 1, phys_id: 0});
});

test('human table: one line per device with origin, and the hotplug settings', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  const r = run(fx.root, '-R');
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.regex(lines[0], /^DEVICE\s+MODE\s+SIZE\s+KMEM\s+NODE\s+TIER\s+BLOCKS\s+ZONE\s+POISON\s+ORIGIN$/);
  t.regex(lines[1], /^dax0\.0\s+system-ram\s+1006\.00 MiB\s+896\.00 MiB\s+1\s+-\s+7\/7\s+movable\s+1\s+namespace0\.0 region0 ACPI\.NFIT$/);
  t.regex(lines[2], /^dax0\.1\s+devdax\s+502\.00 MiB\s+384\.00 MiB\s+1\s+-\s+-\/3\s+-\s+0\s+namespace0\.1/);
  t.regex(lines[3], /^dax1\.0\s+disabled\s+4\.00 GiB\s+4\.00 GiB\s+2\s+-\s+-\/32\s+-\s+0\s+hmem\.0 soft-reserved$/);
  t.regex(r.stdout, /memory block 128\.00 MiB, auto_online_blocks offline, online_policy contig-zones/);
  t.regex(r.stdout, /region0\s+ACPI\.NFIT\s+0x200000000\s+2\.00 GiB\s+1\s+1\s+nmem0/);
});

test('half-removed device: listed without it, warning on stderr, exit 0', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  fx.rm(`${fx.devicePath('dax0.1')}/size`);
  const r = run(fx.root, '--json');
  t.is(r.status, 0);
  t.deepEqual(JSON.parse(r.stdout).map((d: {chardev: string}) => d.chardev), ['dax0.0', 'dax1.0']);
  t.regex(r.stderr, /warning: dax0\.1: skipped/);
});

test('garbage sysfs: exit 1 with a SysfsError naming the path, no stack trace', (t) => {
  const fx = buildFixture(SPEC);
  t.teardown(fx.cleanup);
  fx.rm('/proc/zoneinfo'); // every block is read then
  fx.write('/sys/devices/system/memory/memory65/state', 'melting\n');
  const r = run(fx.root);
  t.is(r.status, 1);
  t.regex(r.stderr, /memory65\/state: unexpected memory block state "melting"/);
  t.notRegex(r.stderr, /TypeError|    at /);
});

test.serial('a verb runs without yargs rendering the help text it would cache (20-25 ms of every call); --help still renders it', async (t) => {
  const {buildParser} = await import('../daemon/cli/main');
  const fx = buildFixture({});
  t.teardown(() => fx.cleanup());
  const run = async (argv: string[]) => {
    const parser = buildParser(argv).exitProcess(false);
    const usage = (parser as unknown as {getInternalMethods(): {getUsageInstance(): {help(): string}}}).getInternalMethods().getUsageInstance();
    let rendered = 0;
    const help = usage.help.bind(usage);
    usage.help = () => {
      rendered++;
      return help();
    };
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => out.push(String(s)) > 0) as typeof process.stdout.write;
    try {
      await parser.parseAsync();
    } finally {
      process.stdout.write = write;
    }
    return {rendered, out: out.join('')};
  };
  const list = await run(['list', '--root', fx.root]);
  t.regex(list.out, /no device-dax devices/);
  t.is(list.rendered, 0);
  const help = await run(['list', '--help']);
  t.regex(help.out, /daxram list/);
  t.true(help.rendered > 0);
});

test('the top-level help, a misspelt verb and a missing one load no verb\'s module; a verb after an option\'s value loads that verb alone', (t) => {
  const code = `
    const {commandsFor} = require(${JSON.stringify(path.join(__dirname, '..', 'daemon', 'cli', 'commands', 'index.js'))});
    const verbs = () => Object.keys(require.cache).map((f) => /cli[/]commands[/]([a-z-]+)\\.js$/.exec(f)?.[1]).filter((v) => v && v !== 'index' && v !== 'verbs');
    const out = {};
    for (const argv of [['--help'], ['lst'], [], ['--json']]) out[argv.join(' ')] = {commands: commandsFor(argv).map((c) => c.command), loaded: verbs()};
    out.list = {commands: commandsFor(['--root', '/r', 'list']).map((c) => c.command), loaded: verbs()};
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', code], {encoding: 'utf8'});
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, {commands: string[]; loaded: string[]}>;
  for (const k of ['--help', 'lst', '', '--json']) {
    t.deepEqual(out[k].loaded, [], k);
    t.deepEqual(out[k].commands, Object.values(VERBS).map((v) => v.command), k);
  }
  t.deepEqual(out.list, {commands: ['list'], loaded: ['list']});
  // The help names every verb with its summary, as each verb's own module does.
  const help = spawnSync(process.execPath, [path.join(__dirname, 'entry', 'daxram.js'), '--help'], {encoding: 'utf8'});
  for (const v of Object.values(VERBS)) t.true(help.stdout.replace(/\s+/g, ' ').includes(v.describe.slice(0, 40)), v.command);
});

import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {ConfigError} from '../daemon/errors';
import {loadConfig, parseConfig, ruleFor, deviceKey} from '../daemon/config/config';
import {parseDaxctlConf} from '../daemon/config/daxctl-conf';
import type {DaxDevice} from '../daemon/model/types';

const U1 = '48d8e42c-a2f0-4312-9e70-a837faafe862';
const U2 = 'ed93e918-e165-49d8-921d-383d7b9660c5';

function lineOf(t: any, f: () => unknown): number | undefined {
  const e = t.throws(f, {instanceOf: ConfigError}) as ConfigError & {line?: number};
  return e.line;
}

test('a commented config parses into device rules with defaults', (t) => {
  const cfg = parseConfig([
    {
      file: 'daxram.conf',
      text: `# daxram
[daemon]
metrics-dir = /var/lib/node-exporter   # textfile collector
log-level = debug

[device fast]
uuid = ${U1.toUpperCase()}
mode = ram
zone = normal
node = 1
poison = online-and-isolate

[device hmem]
region = 1
resource = 0x240000000
mode = reserved
`,
    },
  ]);
  t.is(cfg.daemon.metricsDir, '/var/lib/node-exporter');
  t.is(cfg.daemon.logLevel, 'debug');
  t.is(cfg.devices.length, 2);
  const [fast, hmem] = cfg.devices;
  t.deepEqual(fast.match, {uuid: U1});
  t.is(fast.zone, 'normal');
  t.is(fast.node, 1);
  t.is(fast.online, true);
  t.is(fast.gates.poison, 'online-and-isolate');
  t.deepEqual(fast.source, {file: 'daxram.conf', line: 6, origin: 'daxram'});
  t.is(hmem.match.daxRegion, 1);
  t.is(hmem.match.resource, 0x240000000n);
  t.is(hmem.mode, 'reserved');
  t.is(hmem.zone, 'movable');
});

test('errors name the file and the line', (t) => {
  const bad = (text: string) => lineOf(t, () => parseConfig([{file: 'x.conf', text}]));
  t.is(bad('[device a]\nuuid = nope\nmode = ram\n'), 2);
  t.is(bad('\n\n[device a]\nuuid = ' + U1 + '\nmode = rom\n'), 5);
  t.is(bad('mode = ram\n'), 1);
  t.is(bad('[device a]\nuuid = ' + U1 + '\nmode = ram\nbogus = 1\n'), 4);
  t.is(bad('[device a]\nuuid = ' + U1 + '\nmode = ram\nmode = devdax\n'), 4);
  t.is(bad('[device a]\nmode = ram\n'), 1); // no match key
  t.is(bad('[device a]\nuuid = ' + U1 + '\n'), 1); // no mode
  t.is(bad('[device a\n'), 1);
  t.is(bad('[frobnicate]\n'), 1);
  t.is(bad('[device a]\nregion = 1\nmode = ram\n'), 1); // region without resource
  t.is(bad('[device a]\njust some words\n'), 2);
  const e = t.throws(() => parseConfig([{file: '/etc/daxram/daxram.conf', text: '[device a]\nuuid = x\nmode = ram\n'}]))!;
  t.regex(e.message, /^\/etc\/daxram\/daxram\.conf:2: /);
});

test('two rules for one device are an error naming both places', (t) => {
  const e = t.throws(() =>
    parseConfig([
      {file: 'a.conf', text: `[device a]\nuuid = ${U1}\nmode = ram\n`},
      {file: 'b.conf', text: `\n[device b]\nuuid = ${U1}\nmode = devdax\n`},
    ]),
  )!;
  t.regex(e.message, /^b\.conf:2: .*a\.conf:1/);
});

test('matching by kernel name warns that it can move', (t) => {
  const cfg = parseConfig([{file: 'a.conf', text: '[device x]\ndax = dax0.0\nmode = ram\n'}]);
  t.is(cfg.devices[0].match.dax, 'dax0.0');
  t.is(cfg.warnings.length, 1);
  t.regex(cfg.warnings[0], /can change across reboots/);
});

test('daxctl.conf.d: reconfigure-device sections map to rules; other sections are skipped', (t) => {
  const dx = parseDaxctlConf([
    {
      file: '/etc/daxctl.conf.d/daxctl.conf',
      text: `# from daxctl docs
[reconfigure-device unique_identifier_foo]
nvdimm.uuid = ${U1}
mode = system-ram
online = true
movable = false

[reconfigure-device bar]
nvdimm.uuid=${U2}
mode = devdax
something.new = 1

[some-other-command]
key = value
`,
    },
  ]);
  t.is(dx.rules.length, 2);
  t.like(dx.rules[0], {label: 'unique_identifier_foo', mode: 'ram', zone: 'normal', online: true, match: {uuid: U1}});
  t.is(dx.rules[0].source.origin, 'daxctl');
  t.is(dx.rules[0].source.line, 2);
  t.like(dx.rules[1], {mode: 'devdax', zone: 'movable'});
  t.is(dx.warnings.length, 1);
  t.regex(dx.warnings[0], /:11: unknown daxctl key "something.new"/);
});

test('daxctl.conf.d errors carry line numbers too', (t) => {
  t.is(lineOf(t, () => parseDaxctlConf([{file: 'd.conf', text: '[reconfigure-device a]\nnvdimm.uuid = ' + U1 + '\nmode = kmem\n'}])), 3);
  t.is(lineOf(t, () => parseDaxctlConf([{file: 'd.conf', text: '[reconfigure-device a]\nmode = devdax\n'}])), 1);
  t.is(
    lineOf(t, () =>
      parseDaxctlConf([
        {file: 'd.conf', text: `[reconfigure-device a]\nnvdimm.uuid = ${U1}\nmode = devdax\n`},
        {file: 'e.conf', text: `\n\n[reconfigure-device a]\nnvdimm.uuid = ${U2}\nmode = devdax\n`},
      ]),
    ),
    3,
  );
});

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-conf-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), {recursive: true});
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

test('loadConfig: main file, conf.d in order, daxctl merged with ours winning', (t) => {
  const root = tree({
    'etc/daxram/daxram.conf': `[daemon]\nunmatched = ignore\n[device main]\nuuid = ${U1}\nmode = ram\n`,
    'etc/daxram/conf.d/20-b.conf': '[device byname]\ndax = dax9.0\nmode = devdax\n',
    'etc/daxram/conf.d/10-a.conf': '[daemon]\nmetrics-dir = off\n',
    'etc/daxram/conf.d/README': 'not a conf file, ignored',
    'etc/daxctl.conf.d/daxctl.conf': `[reconfigure-device one]\nnvdimm.uuid = ${U1}\nmode = devdax\n[reconfigure-device two]\nnvdimm.uuid = ${U2}\nmode = system-ram\n`,
  });
  const cfg = loadConfig({etcDir: path.join(root, 'etc/daxram'), daxctlDir: path.join(root, 'etc/daxctl.conf.d')});
  t.deepEqual(
    cfg.files.map((f) => path.relative(root, f)),
    ['etc/daxram/daxram.conf', 'etc/daxram/conf.d/10-a.conf', 'etc/daxram/conf.d/20-b.conf', 'etc/daxctl.conf.d/daxctl.conf'],
  );
  t.is(cfg.daemon.metricsDir, undefined);
  t.deepEqual(
    cfg.devices.map((r) => [r.label, r.mode, r.source.origin]),
    [
      ['main', 'ram', 'daxram'],
      ['byname', 'devdax', 'daxram'],
      ['two', 'ram', 'daxctl'],
    ],
  );
  t.is(cfg.conflicts.length, 1);
  t.is(cfg.conflicts[0].key, `uuid:${U1}`);
  t.deepEqual(cfg.conflicts[0].differs, ['mode: ours ram, daxctl devdax']);
  t.is(cfg.conflicts[0].daxctl.line, 1);
});

test('loadConfig: a malformed drop-in rejects the whole load', (t) => {
  const root = tree({
    'etc/daxram/daxram.conf': `[device main]\nuuid = ${U1}\nmode = ram\n`,
    'etc/daxram/conf.d/50-broken.conf': '[device x]\nuuid = ' + U2 + '\nmode = ram\nzone = sideways\n',
  });
  const e = t.throws(() => loadConfig({etcDir: path.join(root, 'etc/daxram')}), {instanceOf: ConfigError})!;
  t.regex(e.message, /50-broken\.conf:4: zone = "sideways"/);
});

function dev(over: Partial<DaxDevice> & {uuid?: string}): DaxDevice {
  const d = {
    name: 'dax0.0',
    daxRegion: 0,
    ranges: [{start: 0x240000000n, size: 1n << 30n}],
    uuids: {},
    ...over,
  } as DaxDevice;
  if (over.uuid) d.uuids = {namespace: over.uuid.toLowerCase()};
  return d;
}

test('ruleFor matches uuid first, then region/resource, then kernel name', (t) => {
  const cfg = parseConfig([
    {
      file: 'a.conf',
      text: `[device n]\ndax = dax0.0\nmode = devdax\n[device u]\nuuid = ${U1}\nmode = ram\n[device r]\nregion = 3\nresource = 0x240000000\nmode = reserved\n`,
    },
  ]);
  t.is(ruleFor(cfg, dev({uuid: U1}))?.label, 'u');
  t.is(ruleFor(cfg, dev({name: 'dax3.0', daxRegion: 3}))?.label, 'r');
  t.is(ruleFor(cfg, dev({}))?.label, 'n');
  t.is(ruleFor(cfg, dev({name: 'dax1.0', daxRegion: 1})), undefined);
  t.is(deviceKey(dev({uuid: U1.toUpperCase()})), `uuid:${U1}`);
  t.is(deviceKey(dev({daxRegion: 3})), 'res:3:0x240000000');
});

test('ruleFor matches the dax info-block uuid (ndctl list "uuid", daxctl nvdimm.uuid) too', (t) => {
  const cfg = parseConfig([{file: 'a.conf', text: `[device u]\nuuid = ${U2}\nmode = ram\n`}]);
  t.is(ruleFor(cfg, dev({uuid: U1})), undefined);
  const both = dev({uuid: U1});
  both.uuids.infoBlock = U2;
  t.is(ruleFor(cfg, both)?.label, 'u');
});

test('a device without a namespace matches by resource alone; region =, when given, must agree; region alone is an error', (t) => {
  const cfg = parseConfig([{file: 'a.conf', text: `[device cxl]\nresource = 0x240000000\nmode = ram\n`}]);
  t.is(ruleFor(cfg, dev({name: 'dax7.0', daxRegion: 7}))?.label, 'cxl');
  const pinned = parseConfig([{file: 'b.conf', text: `[device cxl]\nregion = 3\nresource = 0x240000000\nmode = ram\n`}]);
  t.is(ruleFor(pinned, dev({name: 'dax7.0', daxRegion: 7})), undefined);
  const e = t.throws(() => parseConfig([{file: 'c.conf', text: `[device x]\nregion = 3\nmode = ram\n`}]), {instanceOf: ConfigError});
  t.regex(e!.message, /c\.conf:1: .*region = but no resource =/);
});

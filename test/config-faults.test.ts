// Configuration under faults and bad input, as an unlucky or hostile operator would meet them:
// a config file that is a dangling or looping symlink, a reservation edited away, two rules
// written two ways for one device, a crafted line, numbers out of range, bytes that are not
// UTF-8, a corrupt state file. A reservation never disappears because of any of them.

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {ConfigError} from '../daemon/errors';
import {configFiles, loadConfig, parseConfig, readText} from '../daemon/config/config';
import {parseIni} from '../daemon/config/ini';
import {heldReservations, RESERVATIONS_FILE} from '../daemon/config/reservations';
import {StateStore} from '../daemon/config/state';
import {LAST_GOOD} from '../daemon/daxramd/config-loader';
import {buildFixture} from './helpers/fixture';
import {driver, qemuSpec} from './helpers/engine-context';
import {daemonBed, type DaemonBed} from './helpers/daemon';

const UUID = '11111111-2222-4333-8444-555555555555';
const RESERVED = `[device trace]\nuuid = ${UUID}\nmode = reserved\n`;
const RAM = `[device n1]\nuuid = ${UUID}\nmode = ram\nnode = 1\n`;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-cfault-'));

test('a dangling or looping daxram.conf is an error naming it, not "no configuration"', (t) => {
  for (const make of [(f: string) => fs.symlinkSync('/nonexistent/daxram.conf', f), (f: string) => fs.symlinkSync(f, f)]) {
    const etc = tmp();
    const f = path.join(etc, 'daxram.conf');
    make(f);
    const e = t.throws(() => loadConfig({etcDir: etc}), {instanceOf: ConfigError});
    t.regex(e?.message ?? '', new RegExp(`cannot read ${f}: it is a symlink (to nothing|loop)`));
    t.regex((e as ConfigError).fix ?? '', /last good configuration stays in force/);
  }
  // Absent is still "no configuration".
  t.deepEqual(configFiles(tmp()), []);
});

/** The packaged CLI's way in, against a fixture tree with a config under its root. */
function cli(root: string, args: string[]) {
  return spawnSync(process.execPath, [path.join(__dirname, 'entry', 'daxram.js'), '--root', root, ...args], {encoding: 'utf8', env: {...process.env, DAXRAM_TEST_SER_P: '1', DAXRAM_TEST_POISON: 'none'}});
}

test('the CLI with a dangling daxram.conf: config check fails and online refuses, instead of passing the reservation', (t) => {
  const fx = buildFixture(qemuSpec({}, {}));
  t.teardown(() => fx.cleanup());
  const etc = path.join(fx.root, 'etc/daxram');
  fs.mkdirSync(etc, {recursive: true});
  fs.writeFileSync(path.join(etc, 'real.conf'), RESERVED.replace(`uuid = ${UUID}`, 'dax = dax0.0'));
  fs.symlinkSync(path.join(etc, 'real.conf'), path.join(etc, 'daxram.conf'));
  const before = cli(fx.root, ['online', 'dax0.0', '--dry-run']);
  t.regex(before.stdout, /refuse +reserved .*never onlined/);
  fs.rmSync(path.join(etc, 'real.conf'));
  const check = cli(fx.root, ['config', 'check', '--config-dir', etc]);
  t.not(check.status, 0);
  t.regex(check.stderr, /cannot read .*daxram\.conf: it is a symlink to nothing/);
  const after = cli(fx.root, ['online', 'dax0.0', '--dry-run']);
  t.is(after.status, 1);
  t.regex(after.stderr, /symlink to nothing.*its reservations cannot be honoured, so nothing is changed/);
  t.notRegex(after.stdout, /plan:/);
});

/** daxramd over the fixture, its namespace carrying the UUID the configs name. */
function daemonSetup(t: {teardown(fn: () => void): void}, conf: string): DaemonBed {
  const bed = daemonBed(conf);
  t.teardown(bed.cleanup);
  const ns = bed.tb.k.list('/sys/bus/nd/devices', /^namespace/)[0];
  fs.writeFileSync(bed.tb.k.p(`/sys/bus/nd/devices/${ns}/uuid`), UUID + '\n');
  return bed;
}

test('daxramd: daxram.conf turned into a dangling symlink on reload and restart keeps the reservation, and the last good config is not overwritten', async (t) => {
  const {tb, etc, lines, mk} = daemonSetup(t, RESERVED);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  const lastGood = fs.readFileSync(path.join(tb.ctx.stateDir, LAST_GOOD), 'utf8');
  fs.rmSync(path.join(etc, 'daxram.conf'));
  fs.symlinkSync('/nonexistent/daxram.conf', path.join(etc, 'daxram.conf'));
  await d.reload();
  t.regex(d.statusLine(), /config rejected, previous kept/);
  t.true(lines.some((l) => /^<3>config rejected, nothing changed: cannot read .*symlink to nothing/.test(l)));
  t.is(fs.readFileSync(path.join(tb.ctx.stateDir, LAST_GOOD), 'utf8'), lastGood);
  t.is(d.metrics.configRejected, 1);
  t.regex(d.metrics.render(), /^daxram_config_rejected 1$/m);
  // A new daemon starts from the last good configuration: still reserved, even with an
  // operator record asking for RAM.
  new StateStore(tb.ctx.stateDir).record([{key: `uuid:${UUID}`, device: 'dax0.0', mode: 'ram', action: 'online', at: new Date().toISOString()}]);
  const d2 = mk();
  await d2.start();
  t.is(driver(tb.k), 'device_dax');
  t.true(lines.some((l) => /using the last good configuration/.test(l)));
});

test('a reservation edited out of a valid config stays in force until the operator forgets it; forgetting one still configured is refused', async (t) => {
  const {tb, etc, lines, mk} = daemonSetup(t, RESERVED);
  const d = mk();
  await d.start();
  t.is(heldReservations(tb.ctx.stateDir)[0].key, `uuid:${UUID}`);
  t.throws(() => d.forgetReservation('dax0.0'), {message: /dax0\.0 is reserved by .*daxram\.conf:1 \[device trace\]/});
  // The deploy replaces the file with one that says RAM for the same device.
  fs.writeFileSync(path.join(etc, 'daxram.conf'), RAM);
  await d.reload();
  t.is(driver(tb.k), 'device_dax', 'not onlined: the reservation is retired, not gone');
  t.regex(d.statusLine(), /1 retired reservation\(s\) still enforced/);
  t.true(lines.some((l) => /reservation uuid:11111111-.* is no longer in the configuration; still enforced until daxram forget/.test(l)));
  t.regex(d.metrics.render(), /^daxram_reservations_retired 1$/m);
  t.true(d.last.some((r) => r.action === 'refused' && /reserved .*no longer in the configuration since .*daxram forget uuid:/.test(r.detail ?? '')), JSON.stringify(d.last));
  // A new daemon (a restart, a reboot) remembers it.
  const d2 = mk();
  await d2.start();
  t.is(driver(tb.k), 'device_dax');
  // The operator confirms: the config applies.
  t.truthy(d2.forgetReservation('dax0.0'));
  await d2.reconcile('forget');
  t.is(driver(tb.k), 'kmem');
  t.deepEqual(heldReservations(tb.ctx.stateDir), []);
});

test('two rules written two ways meet on one device: the reservation wins and both places are named', async (t) => {
  const conf = `${RAM}\n[device trace]\ndax = dax0.0\nmode = reserved\n`;
  const {tb, lines, mk} = daemonSetup(t, conf);
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  const warn = lines.find((l) => /config: dax0\.0 is named by/.test(l)) ?? '';
  t.regex(warn, /\[device n1\] \(.*daxram\.conf:1, mode = ram\) and \[device trace\] \(.*daxram\.conf:6, mode = reserved\); a reservation wins/);
  // n1 names a present device, though the reservation wins on it: not a device to wait for.
  t.false(lines.some((l) => /ready without \[device n1\]/.test(l)), lines.join(''));
});

test('res:0: beside res:*: is one device, an error naming both places', (t) => {
  const text = `[device a]\nregion = 0\nresource = 0x240000000\nmode = ram\n\n[device b]\nresource = 0x240000000\nmode = reserved\n`;
  t.throws(() => parseConfig([{file: 'x.conf', text}]), {message: /x\.conf:6: \[device b\] matches the same device as \[device a\] at x\.conf:1/});
});

test('a crafted header is parsed in linear time; long lines and big files are refused', (t) => {
  const t0 = process.hrtime.bigint();
  t.throws(() => parseIni(`[device a${' '.repeat(4000)}b\n`, 'x.conf'), {message: /x\.conf:1: malformed section header/});
  t.throws(() => parseIni(`[device a${' '.repeat(80_000)}b\n`, 'x.conf'), {message: /x\.conf:1: line is 80010 characters long, over 4096/});
  const many = Array.from({length: 5_000}, (_, i) => `[device a${' '.repeat(100)}b${i}`).join('\n');
  t.throws(() => parseIni(many, 'y.conf'), {message: /y\.conf:1: malformed/});
  t.throws(() => parseIni('#'.repeat(2 << 20), 'z.conf'), {message: /over the 1048576 a configuration may have/});
  // A section with many keys: one map lookup each, not a scan.
  const keys = `[daemon]\n${Array.from({length: 30_000}, (_, i) => `k${i} = v`).join('\n')}\n`;
  t.is(parseIni(keys, 'k.conf')[0].entries.length, 30_000);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.log(`all of it in ${ms.toFixed(0)} ms`);
});

test('numbers out of range and names that are not text are errors with file and line', (t) => {
  const rule = (k: string) => `[device a]\nuuid = ${UUID}\nmode = ram\n${k}\n`;
  t.throws(() => parseConfig([{file: 'n.conf', text: rule('node = 100000000000000000000')}]), {message: /n\.conf:4: node "100000000000000000000" is not a NUMA node number \(0 to 1023\)/});
  t.throws(() => parseConfig([{file: 'n.conf', text: rule('node = 1024')}]), {message: /n\.conf:4: node "1024"/});
  const res = (r: string) => `[device a]\nregion = ${r}\nresource = 0x1000\nmode = ram\n`;
  t.throws(() => parseConfig([{file: 'r.conf', text: res('1e20')}]), {message: /r\.conf:2: region "1e20" is not a dax region id/});
  t.throws(() => parseConfig([{file: 'r.conf', text: res('99999999999')}]), {message: /r\.conf:2: region "99999999999"/});
  t.throws(() => parseConfig([{file: 'r.conf', text: `[device a]\nresource = 0x${'f'.repeat(17)}\nmode = ram\n`}]), {message: /r\.conf:2: resource .* is not a 0x-prefixed 64-bit physical address/});
  const dir = tmp();
  const f = path.join(dir, 'bad.conf');
  fs.writeFileSync(f, Buffer.concat([Buffer.from('# fine\n[device '), Buffer.from([0xff, 0xfe]), Buffer.from(']\nmode = ram\n')]));
  t.throws(() => readText(f), {message: new RegExp(`${f}:2: not UTF-8`)});
  t.throws(() => parseIni('[device a\u0007b]\n', 'c.conf'), {message: /c\.conf:1: malformed section header/});
});

test('operator records that cannot be read: daxramd changes no device, says so in STATUS and metrics', async (t) => {
  const {tb, lines, mk} = daemonSetup(t, RAM);
  fs.mkdirSync(tb.ctx.stateDir, {recursive: true, mode: 0o700});
  fs.writeFileSync(path.join(tb.ctx.stateDir, 'desired.json'), '{"version": 1, "records": [tr');
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax', 'the config says RAM, but the operator may have said otherwise');
  t.regex(d.statusLine(), /CHANGING NOTHING: operator records unreadable/);
  t.true(lines.some((l) => /^<3>changing no device: operator records unreadable/.test(l)));
  t.regex(d.metrics.render(), /^daxram_held_still 1$/m);
});

test('a corrupt reservations file: daxramd changes no device, and the CLI refuses to online', async (t) => {
  const {tb, mk} = daemonSetup(t, RAM);
  fs.mkdirSync(tb.ctx.stateDir, {recursive: true, mode: 0o700});
  fs.writeFileSync(path.join(tb.ctx.stateDir, RESERVATIONS_FILE), 'not json');
  const d = mk();
  await d.start();
  t.is(driver(tb.k), 'device_dax');
  t.regex(d.statusLine(), /CHANGING NOTHING: .*reservations\.json is corrupt/);

  const fx = buildFixture(qemuSpec({}, {}));
  t.teardown(() => fx.cleanup());
  const state = path.join(fx.root, 'var/lib/daxram');
  fs.mkdirSync(state, {recursive: true, mode: 0o700});
  fs.writeFileSync(path.join(state, RESERVATIONS_FILE), '{"version": 1, "reservations": [{"key": 1}]}');
  const r = cli(fx.root, ['online', 'dax0.0']);
  t.is(r.status, 1);
  t.regex(r.stderr, /reservations\.json is corrupt .*nothing is changed/);
});

test('config check shows each [region] with its key and what it lays out; a bad one names its line', (t) => {
  const root = tmp();
  const etc = path.join(root, 'etc/daxram');
  fs.mkdirSync(etc, {recursive: true});
  fs.writeFileSync(path.join(etc, 'daxram.conf'), '[region exp]\nmemdevs = 4097, 0x1000\nram = 512M\n\n[region hbm]\nrange = 0x50000000\nram = 0\n');
  const ok = cli(root, ['config', 'check', '--config-dir', etc]);
  t.is(ok.status, 0, ok.stderr);
  t.regex(ok.stdout, /\[region exp\] cxl:0x1000,0x1001: CXL memdevs 0x1001,0x1000, size all → 512\.00 MiB System RAM \(zone movable\), the rest devdax +\(.*daxram\.conf:1\)/);
  t.regex(ok.stdout, /\[region hbm\] hmem:0x50000000: soft-reserved range at 0x50000000 → all devdax/);
  t.regex(ok.stdout, /configuration OK/);
  fs.writeFileSync(path.join(etc, 'daxram.conf'), '[region exp]\nmemdevs = mem0\n');
  const bad = cli(root, ['config', 'check', '--config-dir', etc]);
  t.not(bad.status, 0);
  t.regex(bad.stderr, /daxram\.conf:2: memdevs = "mem0" is not a list of memdev serial numbers/);
});

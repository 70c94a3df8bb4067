// The verbs as an operator runs them (bin/daxram against a fixture root): dry-run text and
// JSON, refusals with exit codes and JSON errors, usage errors.

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {buildFixture, NFIT_TEST_COMMANDS} from './helpers/fixture';
import {qemuSpec} from './helpers/engine-context';
import {StateStore} from '../daemon/config/state';

const BIN = path.join(__dirname, 'entry', 'daxram.js');

function run(args: string[], env: Record<string, string> = {}) {
  const fx = buildFixture(qemuSpec({}, {}));
  const r = spawnSync(process.execPath, [BIN, '--root', fx.root, ...args], {
    encoding: 'utf8',
    env: {...process.env, DAXRAM_TEST_SER_P: '1', ...env},
  });
  fx.cleanup();
  return r;
}

test('online --dry-run prints the gates and the exact writes', (t) => {
  const r = run(['online', 'dax0.0', '--dry-run']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^plan: online dax0\.0 → System RAM on node 1, zone Movable: 7 block\(s\)/m);
  t.regex(r.stdout, /pass +mce-recovery/);
  t.regex(r.stdout, /write "online_movable" > \/sys\/devices\/system\/memory\/memory71\/state/);
});

test('online --dry-run --json is the plan as data', (t) => {
  const r = run(['--json', 'online', 'dax0.0', '--dry-run']);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.true(j.dryRun);
  t.is(j.plan.steps[0].path, '/sys/bus/dax/drivers/device_dax/unbind');
  t.deepEqual(j.plan.gates.map((g: {gate: string}) => g.gate), ['reserved', 'poison-scan', 'residual-poison', 'mce-recovery', 'dimm-security', 'zone-balance']);
});

test('a refusing gate: exit 1, JSON error naming the gate and the device', (t) => {
  const r = run(['--json', 'online', 'dax0.0'], {DAXRAM_TEST_SER_P: '0'});
  t.is(r.status, 1);
  const e = JSON.parse(r.stderr.slice(r.stderr.indexOf('{')));
  t.is(e.error, 'PolicyError');
  t.is(e.device, 'dax0.0');
  t.regex(e.message, /mce-recovery/);
  t.regex(e.fix, /mce-recovery=warn/);
});

test('bad input: exit 2 with a fix', (t) => {
  const a = run(['online', 'nvme0']);
  t.is(a.status, 2);
  t.regex(a.stderr, /is not a dax device name/);
  const b = run(['reassign', 'region0', '--ram', 'lots']);
  t.is(b.status, 2);
  t.regex(b.stderr, /invalid --ram/);
  const c = run(['online', 'dax0.0', '--poison', 'ignore']);
  t.is(c.status, 2);
});

test('offline and recover dry runs on a devdax device: nothing to do', (t) => {
  const r = run(['offline', 'dax0.0', '--dry-run']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /steps: none/);
  const s = run(['recover', '--dry-run']);
  t.is(s.status, 0, s.stderr);
  t.regex(s.stdout, /nothing to recover/);
});

// daxramd's configuration reserves the device: the CLI honours it, records nothing, changes nothing.
function runWithConfig(conf: string, args: string[]) {
  const fx = buildFixture(qemuSpec({}, {}));
  fs.mkdirSync(path.join(fx.root, 'etc/daxram'), {recursive: true});
  fs.writeFileSync(path.join(fx.root, 'etc/daxram/daxram.conf'), conf);
  const rdir = fs.realpathSync(path.join(fx.root, 'sys/bus/nd/devices/region0'));
  const nsUuid = fs.readFileSync(path.join(rdir, 'namespace0.0/uuid'), 'utf8').trim();
  const r = spawnSync(process.execPath, [BIN, '--root', fx.root, ...args.map((a) => a.replace('NSUUID', nsUuid))], {
    encoding: 'utf8',
    env: {...process.env, DAXRAM_TEST_SER_P: '1', DAXRAM_TEST_POISON: 'none'},
  });
  // Under --root the state directory is the fixture's own; the remembered reservations are
  // not an operator's decision.
  const stateDir = path.join(fx.root, 'var/lib/daxram');
  const state = fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((n) => n !== 'reservations.json') : [];
  const driver = fs.readlinkSync(path.join(fx.root, 'sys/bus/dax/devices/dax0.0/driver'));
  fx.cleanup();
  return {...r, state, driver, nsUuid};
}

test("a device daxramd's config reserves (by uuid) is refused by online and reassign, naming file and line; nothing recorded", (t) => {
  const fx = buildFixture(qemuSpec({}, {}));
  const rdir = fs.realpathSync(path.join(fx.root, 'sys/bus/nd/devices/region0'));
  const uuid = fs.readFileSync(path.join(rdir, 'namespace0.0/uuid'), 'utf8').trim();
  fx.cleanup();
  const conf = `# trace buffers survive a crash here\n[device trace]\nuuid = ${uuid}\nmode = reserved\n`;
  const on = runWithConfig(conf, ['--json', 'online', 'dax0.0']);
  t.is(on.status, 1, on.stderr);
  const e = JSON.parse(on.stderr.slice(on.stderr.indexOf('{')));
  t.is(e.code, 'GATE_RESERVED');
  t.regex(e.message, /dax0\.0 is reserved \(by .*\/etc\/daxram\/daxram\.conf:2 \[device trace\]\)/);
  t.regex(e.fix, /change its mode in .*daxram\.conf:2/);
  t.deepEqual(on.state, [], 'no operator record: daxramd is not told to online it either');
  t.regex(on.driver, /device_dax$/);
  const dry = runWithConfig(conf, ['online', 'dax0.0', '--dry-run']);
  t.is(dry.status, 0, dry.stderr);
  t.regex(dry.stdout, /refuse +reserved +.*reserved \(by .*daxram\.conf:2 \[device trace\]\)/);
  const re = runWithConfig(conf, ['--json', 'reassign', 'region0', '--ram', '0', '--dry-run']);
  t.is(re.status, 1, re.stderr);
  t.regex(re.stderr, /would destroy namespace0\.0 \(dax0\.0\), which is reserved \(by .*daxram\.conf:2/);
});

test('a reservation removed from the config: a dry run refuses as the run would; forget right after the edit releases it', (t) => {
  const fx = buildFixture(qemuSpec({}, {}));
  t.teardown(fx.cleanup);
  const conf = path.join(fx.root, 'etc/daxram/daxram.conf');
  fs.mkdirSync(path.dirname(conf), {recursive: true});
  const rdir = fs.realpathSync(path.join(fx.root, 'sys/bus/nd/devices/region0'));
  const uuid = fs.readFileSync(path.join(rdir, 'namespace0.0/uuid'), 'utf8').trim();
  fs.writeFileSync(conf, `[device trace]\nuuid = ${uuid}\nmode = reserved\n`);
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, '--root', fx.root, ...args], {encoding: 'utf8', env: {...process.env, DAXRAM_TEST_SER_P: '1', DAXRAM_TEST_POISON: 'none'}});
  t.is(cli('online', 'dax0.0', '--dry-run').status, 0);
  t.false(fs.existsSync(path.join(fx.root, 'var/lib/daxram/reservations.json')), 'a dry run remembers nothing');
  t.is(cli('online', 'dax0.0').status, 1);
  fs.rmSync(conf);
  const dry = cli('online', 'dax0.0', '--dry-run');
  t.regex(dry.stdout, /refuse +reserved +.*no longer in the configuration since .*daxram forget uuid:/);
  t.is(JSON.parse(fs.readFileSync(path.join(fx.root, 'var/lib/daxram/reservations.json'), 'utf8')).reservations[0].retiredAt, undefined, 'the dry run wrote nothing');
  const f = cli('forget', 'dax0.0');
  t.is(f.status, 0, f.stderr);
  t.regex(f.stdout, new RegExp(`reservation uuid:${uuid} .*released`));
  t.regex(cli('online', 'dax0.0', '--dry-run').stdout, /pass +reserved/);
});

test('a config that does not parse stops online before anything is recorded or written', (t) => {
  const r = runWithConfig('[device x]\nmode = sometimes\n', ['online', 'dax0.0']);
  t.not(r.status, 0);
  t.regex(r.stderr, /daxram\.conf:2/);
  t.regex(r.stderr, /reservations cannot be honoured, so nothing is changed/);
  t.regex(r.stderr, /daxram config check/);
  t.deepEqual(r.state, []);
  t.regex(r.driver, /device_dax$/);
});

test('online --dry-run lists the scrub-and-clear ioctls the real run issues before the gates', (t) => {
  const spec = qemuSpec({}, {});
  spec.buses![0].commands = NFIT_TEST_COMMANDS;
  spec.buses![0].regions![0].badblocks = [[2_000_000, 1]];
  const fx = buildFixture(spec);
  t.teardown(fx.cleanup);
  const r = spawnSync(process.execPath, [BIN, '--root', fx.root, 'online', 'dax0.0', '--dry-run'], {encoding: 'utf8', env: {...process.env, DAXRAM_TEST_SER_P: '1'}});
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^scrub and clear \(before the gates; a dry run issues none of these\):$/m);
  t.regex(r.stdout, /ioctl\(\/dev\/ndctl0, ND_IOCTL_ARS_CAP, address=0x201200000, length=\d+, type=persistent\)/);
  t.regex(r.stdout, /ioctl\(\/dev\/ndctl0, ND_IOCTL_ARS_START, /);
  t.regex(r.stdout, /ND_IOCTL_CLEAR_ERROR, …\) for each poisoned range found.*\(1 range\(s\) in region0\/badblocks now: 0x23d090000\+512\)/);
  // The same plan as data.
  const j = spawnSync(process.execPath, [BIN, '--root', fx.root, '--json', 'online', 'dax0.0', '--dry-run'], {encoding: 'utf8', env: {...process.env, DAXRAM_TEST_SER_P: '1'}});
  t.is(JSON.parse(j.stdout).plan.scrub.length, 5);
});

test('online refused by a gate records nothing: no record is written, an older one is left as it was', (t) => {
  const fx = buildFixture(qemuSpec({}, {}));
  t.teardown(() => {
    fx.cleanup();
    });
  const env = {...process.env, DAXRAM_TEST_SER_P: '0', DAXRAM_TEST_POISON: 'none'};
  const stateDir = path.join(fx.root, 'var/lib/daxram');
  const records = () => new StateStore(stateDir).load().records;
  const r = spawnSync(process.execPath, [BIN, '--root', fx.root, 'online', 'dax0.0'], {encoding: 'utf8', env});
  t.is(r.status, 1);
  t.regex(r.stderr, /mce-recovery/);
  t.deepEqual(records(), [], 'daxramd is not left retrying an online the gates refuse');
  // The device's own key, as daxramd computes it: its namespace uuid.
  const rdir = fs.realpathSync(path.join(fx.root, 'sys/bus/nd/devices/region0'));
  const key = `uuid:${fs.readFileSync(path.join(rdir, 'namespace0.0/uuid'), 'utf8').trim().toLowerCase()}`;
  new StateStore(stateDir).record([{key, device: 'dax0.0', mode: 'devdax', action: 'offline', at: '2026-11-20T10:00:00.000Z'}]);
  const before = records();
  const again = spawnSync(process.execPath, [BIN, '--root', fx.root, 'online', 'dax0.0'], {encoding: 'utf8', env});
  t.is(again.status, 1);
  t.deepEqual(records(), before, 'the earlier offline record stands, not replaced by the refused online');
});

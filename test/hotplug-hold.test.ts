// The kernel's hot-add policy under faults: who holds it (the boot guard, daxramd, a transition
// that was killed), who may give it back, and that every write to it happens under the lock the
// CLI and daxramd share. The policy must never be stranded at "offline" (every hot-added DIMM
// would stay offline) nor given back while daxramd still counts on it.

import test from 'ava';
import {spawn, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {holdHotplug, onlineHotAdded, readHold, recover, releaseHotplug} from '../daemon/engine';
import {holdFile} from '../daemon/engine/hotplug-policy';
import {Journal, newJournalEntry} from '../daemon/engine/journal';
import {daxramdWillRun} from '../daemon/daxramd/guard';
import {parseGuardArgs} from '../daemon/daxramd/guard-args';
import {qemuSpec, testbed} from './helpers/engine-context';

const AUTO = '/sys/devices/system/memory/auto_online_blocks';
const DAXRAMD = path.resolve(__dirname, '..', '..', 'bin', 'daxramd');

function bed(t: {teardown(fn: () => void): void}, auto = 'online') {
  const tb = testbed(qemuSpec());
  t.teardown(() => tb.cleanup());
  tb.k.writeAttr('/sys/devices/system/memory', 'memory', 'auto_online_blocks', auto);
  // Every flock call, in order, beside every write: writes must fall between a lock and its release.
  const events: string[] = [];
  tb.ctx.native = {...tb.ctx.native, flock: (_fd, op) => void events.push(op === 8 ? 'unlock' : 'lock')};
  const writes = () => tb.k.writes.map((w) => `${w.path.replace('/sys/devices/system/memory/', '')}=${w.value}`);
  return {tb, events, writes, auto: () => tb.k.read(AUTO).trim()};
}

/** A live process that is not us: a hold's holder that is still running. */
function liveHolder(t: {teardown(fn: () => void): void}): number {
  const c = spawn('sleep', ['1000'], {stdio: 'ignore'});
  t.teardown(() => c.kill('SIGKILL'));
  return c.pid as number;
}

test('the guard holds, daxramd takes the hold over; each write to the policy happens under the lock', async (t) => {
  const {tb, events, auto} = bed(t);
  const before = tb.k.writes.length;
  const g = await holdHotplug(tb.ctx, 'daxram-hotplug-guard');
  t.like(g, {policy: 'online', by: 'daxram-hotplug-guard', pid: process.pid});
  t.is(auto(), 'offline');
  t.deepEqual(events, ['lock', 'unlock']);
  t.is(tb.k.writes.length, before + 1);
  // The guard's oneshot is gone; daxramd's hold keeps the system's policy the guard recorded.
  const stored = readHold(tb.ctx)!;
  fs.writeFileSync(holdFile(tb.ctx), JSON.stringify({...stored, pid: 999_999_999}));
  const d = await holdHotplug(tb.ctx, 'daxramd');
  t.like(d, {policy: 'online', by: 'daxramd', pid: process.pid, at: g!.at});
  t.deepEqual(events, ['lock', 'unlock', 'lock', 'unlock']);
});

test('a live holder keeps its hold: the release of the package or a failed unit gives back only a dead holder\'s', async (t) => {
  const {tb, auto} = bed(t);
  await holdHotplug(tb.ctx, 'daxramd');
  const pid = liveHolder(t);
  const h = readHold(tb.ctx)!;
  fs.writeFileSync(holdFile(tb.ctx), JSON.stringify({...h, pid, startTime: undefined}));
  const r = await releaseHotplug(tb.ctx, 'daxram-hotplug-release');
  t.like(r.heldBy, {by: 'daxramd', pid});
  t.is(auto(), 'offline', 'daxramd still counts on it');
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200 && fs.existsSync(`/proc/${pid}/stat`) && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((res) => setTimeout(res, 10));
  const r2 = await releaseHotplug(tb.ctx, 'daxram-hotplug-release');
  t.is(r2.released?.policy, 'online');
  t.is(auto(), 'online');
  t.false(fs.existsSync(holdFile(tb.ctx)));
});

test('a killed CLI online held the policy: daxramd learns it from the journal, recovery does not give it back under daxramd, daxramd does at stop', async (t) => {
  const {tb, auto, writes} = bed(t, 'offline');
  // The interrupted run took "online" (journal) and died with auto_online_blocks at offline.
  new Journal(tb.ctx.stateDir).write(newJournalEntry('online', 'dax0.0', {zone: 'movable', online: true, ranges: [], hotplugPolicy: 'online', hotplugBefore: '0-15'}, 9));
  const hold = await holdHotplug(tb.ctx, 'daxramd');
  t.like(hold, {policy: 'online', before: '0-15'});
  const n = tb.k.writes.length;
  await recover(tb.ctx);
  t.false(writes().slice(n).some((w) => w.startsWith('auto_online_blocks')), writes().slice(n).join(' '));
  t.is(auto(), 'offline');
  const r = await releaseHotplug(tb.ctx, 'daxramd');
  t.is(r.released?.policy, 'online');
  t.is(auto(), 'online');
});

test('while held, memory hot-added that is not dax is onlined as the system\'s policy says, under the lock', async (t) => {
  const {tb, events} = bed(t, 'online_movable');
  await holdHotplug(tb.ctx, 'daxramd');
  // A DIMM of two blocks, added while the policy is held: they come offline.
  const ids = [300, 301];
  tb.k.hotAdd(300, 2, 0);
  events.length = 0;
  const done = await onlineHotAdded(tb.ctx);
  t.deepEqual(done, ids.map((i) => `memory${i}`));
  t.deepEqual(events, ['lock', 'unlock']);
  for (const i of ids) t.is(tb.k.read(`/sys/devices/system/memory/memory${i}/state`).trim(), 'online');
});

test('an unreadable hold file still means held, and is given back as the kernel booted (memhp_default_state=)', async (t) => {
  const {tb, auto} = bed(t);
  await holdHotplug(tb.ctx, 'daxramd');
  fs.writeFileSync(holdFile(tb.ctx), '{"policy": "onl');
  fs.mkdirSync(tb.k.p('/proc'), {recursive: true});
  fs.writeFileSync(tb.k.p('/proc/cmdline'), 'console=ttyS0 memhp_default_state=online_movable quiet\n');
  t.like(readHold(tb.ctx), {policy: 'online_movable', by: 'an unreadable hold file'});
  const r = await releaseHotplug(tb.ctx, 'daxram-hotplug-release');
  t.is(r.released?.policy, 'online_movable');
  t.is(auto(), 'online_movable');
});

test('the guard holds only when daxramd will run: not masked in /etc or /run, a dax bus present', (t) => {
  const {tb} = bed(t);
  const root = tb.k.root;
  t.true(daxramdWillRun(root).yes);
  for (const dir of ['etc/systemd/system', 'run/systemd/system']) {
    fs.mkdirSync(path.join(root, dir), {recursive: true});
    fs.symlinkSync('/dev/null', path.join(root, dir, 'daxramd.service'));
    t.like(daxramdWillRun(root), {yes: false, why: `daxramd.service is masked (/${dir})`});
    fs.rmSync(path.join(root, dir, 'daxramd.service'));
  }
  fs.rmSync(path.join(root, 'sys/bus/dax'), {recursive: true, force: true});
  t.like(daxramdWillRun(root), {yes: false});
});

test('daxramd --hold-hotplug and --release-hotplug as the units run them: hold, release when the holder is gone, exit 0; both at once is a usage error', (t) => {
  const {tb, auto} = bed(t);
  const root = tb.k.root;
  const run = (...args: string[]) => spawnSync(process.execPath, [DAXRAMD, '--root', root, '--lock', `${root}/run/daxram/lock`, '--state-dir', `${root}/var/lib/daxram`, ...args], {encoding: 'utf8'});
  const h = run('--hold-hotplug');
  t.is(h.status, 0, h.stderr + h.stdout);
  t.is(auto(), 'offline');
  t.like(JSON.parse(fs.readFileSync(`${root}/run/daxram/hotplug-hold.json`, 'utf8')), {policy: 'online', by: 'daxram-hotplug-guard'});
  // The guard's process is gone: the release (the guard's ExecStop, prerm) gives it back.
  const r = run('--release-hotplug');
  t.is(r.status, 0, r.stderr + r.stdout);
  // The real Sysfs writes in place, as sysfs wants; on the fixture's plain file "online" lands
  // over "offline" without truncating it.
  t.is(auto().slice(0, 7), 'onlinee');
  t.false(fs.existsSync(`${root}/run/daxram/hotplug-hold.json`));
  const both = run('--hold-hotplug', '--release-hotplug');
  t.not(both.status, 0);
  t.regex(both.stderr, /mutually exclusive/);
  // Without either, it is the daemon (here --once over the fixture).
  const once = run('--once', '--config-dir', `${root}/etc/daxram`, '--daxctl-dir', '');
  t.is(once.status, 0, once.stderr + once.stdout);
});

test("the guard's command line: one verb, --root/--lock/--state-dir in either form; anything else is refused", (t) => {
  t.deepEqual(parseGuardArgs(['--hold-hotplug']), {verb: '--hold-hotplug', root: '/', lock: '/run/daxram/lock', stateDir: '/var/lib/daxram'});
  t.like(parseGuardArgs(['--root=/r', '--release-hotplug', '--state-dir', '/s']), {verb: '--release-hotplug', root: '/r', stateDir: '/s'});
  t.throws(() => parseGuardArgs(['--hold-hotplug', '--once']), {message: /--once: --hold-hotplug takes only --root, --lock, --state-dir/});
  t.throws(() => parseGuardArgs(['--hold-hotplug', '--root']), {message: /--root needs a value/});
  t.throws(() => parseGuardArgs(['--hold-hotplug', '--hold-hotplug']), {message: /mutually exclusive/});
});

test("the guard's bundle is the hold alone: no winston, no yargs, no transitions or scrub (it runs before coldplug on every boot)", (t) => {
  const bundle = path.resolve(__dirname, '..', 'bundle');
  const guard = fs.readFileSync(path.join(bundle, 'daxramd-guard.js'), 'utf8');
  const daemon = fs.readFileSync(path.join(bundle, 'daxramd.js'), 'utf8');
  // esbuild names each module it bundles in a comment.
  for (const m of ['node_modules/winston/', 'node_modules/yargs/', 'engine/transition.js', 'engine/online.js', 'scrub/pipeline.js']) {
    t.true(daemon.includes(m), `the daemon's bundle has ${m} (the check below means something)`);
    t.false(guard.includes(m), `the guard's bundle has ${m}`);
  }
  t.true(guard.length * 5 < daemon.length, `guard ${guard.length} bytes, daxramd ${daemon.length}`);
});


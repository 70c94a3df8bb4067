// `daxram scrub` / `daxram clear` through the real CLI on fixture trees: the paths that need no
// bus ioctl (QEMU's NFIT without ARS, hmem) and bad input. ARS and clearing through the CLI are
// proven on nfit_test in test/kernel/scrub.test.ts.

import test from 'ava';
import {spawn, spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {buildFixture, GiB, QEMU_NFIT_COMMANDS} from './helpers/fixture';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'daxram');

function daxram(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {encoding: 'utf8'});
  return {status: r.status, stdout: r.stdout, stderr: r.stderr};
}

test('scrub on a QEMU NFIT device: JSON says unsupported and lists the kernel badblocks', (t) => {
  const fx = buildFixture({
    buses: [{commands: QEMU_NFIT_COMMANDS, scrub: null, regions: [{start: 8n * GiB, size: 2n * GiB, badblocks: [[70000, 2]], namespaces: [{mode: 'devdax', size: GiB}]}]}],
  });
  t.teardown(fx.cleanup);
  const r = daxram(['--root', fx.root, '--json', 'scrub', 'dax0.0']);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.device, 'dax0.0');
  t.false(j.scrubSupported);
  t.regex(j.reason, /does not implement ars_cap\/ars_start\/ars_status \(commands: cmd_call\)/);
  t.deepEqual(j.remaining, [{start: 8 * 2 ** 30 + 70000 * 512, size: 1024}]);
  const h = daxram(['--root', fx.root, 'clear', 'dax0.0', '--dry-run']);
  t.is(h.status, 0, h.stderr);
  t.regex(h.stdout, /scrub unsupported/);
  t.regex(h.stdout, /region badblocks\): 1 range/);
});

test('clear on an hmem device: unsupported, nothing to clear, exit 0', (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  const r = daxram(['--root', fx.root, '--json', 'clear', 'dax0.0']);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.false(j.scrubSupported);
  t.regex(j.reason, /soft-reserved \(hmem\) memory: the platform exposes no poison list/);
  t.deepEqual(j.remaining, []);
});

test('bad device names are usage errors (exit 2); unknown devices name what exists', (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  const bad = daxram(['--root', fx.root, 'scrub', '../etc']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /not a dax device name/);
  const missing = daxram(['--root', fx.root, '--json', 'clear', 'dax7.0']);
  t.is(missing.status, 1);
  const e = JSON.parse(missing.stderr);
  t.is(e.error, 'NotFoundError');
  t.is(e.device, 'dax7.0');
  t.regex(e.fix, /dax0\.0/);
});

test('clear refuses a device that is System RAM: exit 1 naming the way back, no lock held after, no journal, nothing cleared', (t) => {
  const fx = buildFixture({
    buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, badblocks: [[70000, 2]], namespaces: [{mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}}]}]}],
  });
  t.teardown(fx.cleanup);
  const before = fs.readFileSync(fx.path('/sys/bus/nd/devices/region0/badblocks'), 'utf8');
  const r = daxram(['--root', fx.root, '--json', 'clear', 'dax0.0']);
  t.is(r.status, 1, r.stdout);
  const e = JSON.parse(r.stderr.split('\n').filter((l) => /^[{} ]/.test(l)).join('\n'));
  t.is(e.code, 'GATE_SYSTEM_RAM');
  t.is(e.device, 'dax0.0');
  t.regex(e.fix, /daxram offline dax0\.0, then daxram clear dax0\.0/);
  t.is(fs.readFileSync(fx.path('/sys/bus/nd/devices/region0/badblocks'), 'utf8'), before);
  t.false(fs.existsSync(fx.path('/var/lib/daxram/journal.json')));
  // The dry run says the same.
  const d = daxram(['--root', fx.root, 'clear', 'dax0.0', '--dry-run']);
  t.is(d.status, 1);
  t.regex(d.stderr, /dax0\.0 is System RAM \(bound to kmem\)/);
});

test('clear runs under the lock daxramd and the other verbs share: a held lock makes it wait, then give up naming the holder', (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  fs.mkdirSync(fx.path('/run/daxram'), {recursive: true, mode: 0o700});
  // Another process holds the lock (flock from util-linux, as long as the child runs).
  const lock = fx.path('/run/daxram/lock');
  fs.writeFileSync(lock, 'pid 1: online dax9.9\n');
  const holder = spawn('flock', [lock, 'sleep', '30'], {stdio: 'ignore'});
  t.teardown(() => holder.kill('SIGKILL'));
  for (let i = 0; i < 500 && !fs.readFileSync(`/proc/locks`, 'utf8').includes(String(fs.statSync(lock).ino)); i++) spawnSync('sleep', ['0.01']);
  const r = daxram(['--root', fx.root, 'clear', 'dax0.0', '--lock-wait', '0']);
  t.is(r.status, 1);
  t.regex(r.stderr, /another daxram command holds .*lock \(pid 1: online dax9\.9\); not starting clear poison in dax0\.0/);
});

// The one atomic writer (daemon/util/atomic.ts) under faults: a full disk, a planted symlink, a
// directory someone else can write. What it writes protects memory (the journal, the operator
// records, the hot-add hold), so every failure must leave the old file whole and no debris.
import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {checkDir, ensureDir, writeAtomic} from '../daemon/util/atomic';
import {StateStore, type OperatorRecord} from '../daemon/config/state';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-atomic-'));

/** A tmpfs of `size` bytes mounted on a new directory (the tests run as root, as CI does). */
function tinyFs(t: {teardown(fn: () => void): void}, size: string): string {
  const dir = tmp();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'daxram-test', dir], {encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir} failed (root needed): ${r.stderr}`);
  t.teardown(() => {
    spawnSync('umount', [dir]);
    fs.rmSync(dir, {recursive: true, force: true});
  });
  return dir;
}

const debris = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));

test('a full disk: the write fails with ENOSPC, the old content stays whole, no temp file is left', (t) => {
  const dir = tinyFs(t, '8k');
  const file = path.join(dir, 'journal.json');
  writeAtomic(file, '{"old": true}\n');
  const e = t.throws(() => writeAtomic(file, 'x'.repeat(64 * 1024)));
  t.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
  t.is(fs.readFileSync(file, 'utf8'), '{"old": true}\n');
  t.deepEqual(debris(dir), []);
});

test('a full disk under the operator records: recording 60 fails loudly and the store still loads', (t) => {
  const dir = tinyFs(t, '8k');
  const store = new StateStore(path.join(dir, 'state'));
  const rec = (i: number): OperatorRecord => ({key: `res:1:0x${(0x240000000 + i * 0x8000000).toString(16)}`, device: `dax1.${i}`, mode: 'ram', zone: 'movable', online: true, action: 'online', at: '2026-01-01T00:00:00.000Z'});
  store.record([rec(0)]);
  t.throws(() => store.record(Array.from({length: 60}, (_, i) => rec(i + 1))), {code: 'ENOSPC'} as never);
  const again = new StateStore(path.join(dir, 'state'));
  t.deepEqual(again.load().records.map((r) => r.device), ['dax1.0']);
});

test('a symlink planted where the file goes is replaced, never followed', (t) => {
  const dir = tmp();
  fs.chmodSync(dir, 0o755);
  const victim = path.join(tmp(), 'victim');
  fs.writeFileSync(victim, 'untouched\n', {mode: 0o600});
  const file = path.join(dir, 'daxram.prom');
  fs.symlinkSync(victim, file);
  writeAtomic(file, 'metrics\n', {mode: 0o644});
  t.false(fs.lstatSync(file).isSymbolicLink());
  t.is(fs.readFileSync(file, 'utf8'), 'metrics\n');
  t.is(fs.readFileSync(victim, 'utf8'), 'untouched\n');
  t.is(fs.statSync(victim).mode & 0o777, 0o600, 'the link target was not chmod-ed');
});

test('the mode asked for, whatever the umask: 0600 by default, 0644 for public metrics', (t) => {
  const dir = tmp();
  const old = process.umask(0o077);
  try {
    writeAtomic(path.join(dir, 'a'), 'a');
    writeAtomic(path.join(dir, 'b'), 'b', {mode: 0o644});
  } finally {
    process.umask(old);
  }
  t.is(fs.statSync(path.join(dir, 'a')).mode & 0o777, 0o600);
  t.is(fs.statSync(path.join(dir, 'b')).mode & 0o777, 0o644);
});

test('state goes only into a directory nobody else can write: group/other-writable or foreign-owned is refused, and nothing is written', (t) => {
  const open = tmp();
  fs.chmodSync(open, 0o775);
  t.throws(() => writeAtomic(path.join(open, 'journal.json'), '{}'), {message: new RegExp(`refusing to write state into ${open}: writable by group or others`)});
  t.deepEqual(fs.readdirSync(open), []);
  const foreign = tmp();
  fs.chownSync(foreign, 65534, 65534);
  t.throws(() => writeAtomic(path.join(foreign, 'journal.json'), '{}'), {message: /owned by uid 65534, not root/});
  t.deepEqual(fs.readdirSync(foreign), []);
  // node_exporter's directory belongs to the prometheus user: public metrics may go there.
  writeAtomic(path.join(foreign, 'daxram.prom'), 'm\n', {mode: 0o644, sharedDir: true});
  t.is(fs.readFileSync(path.join(foreign, 'daxram.prom'), 'utf8'), 'm\n');
  fs.chmodSync(foreign, 0o777);
  t.throws(() => checkDir(foreign, true), {message: /world-writable without the sticky bit/});
});

test('missing directories are made 0700 whatever the umask', (t) => {
  const base = tmp();
  const old = process.umask(0);
  try {
    ensureDir(path.join(base, 'var/lib/daxram'));
    writeAtomic(path.join(base, 'run/daxram/hotplug-hold.json'), '{}');
  } finally {
    process.umask(old);
  }
  for (const d of ['var', 'var/lib', 'var/lib/daxram', 'run', 'run/daxram']) t.is(fs.statSync(path.join(base, d)).mode & 0o777, 0o700, d);
});

test('writes in the same millisecond each land whole under their own temp name, and none is left', (t) => {
  const dir = tmp();
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  for (let i = 0; i < 50; i++) writeAtomic(path.join(dir, `f${i % 5}`), String(i));
  t.deepEqual(fs.readdirSync(dir).sort(), ['f0', 'f1', 'f2', 'f3', 'f4']);
  t.is(fs.readFileSync(path.join(dir, 'f4'), 'utf8'), '49');
  t.deepEqual(debris(dir), []);
});

test('daxram and daxramd start without loading node:crypto (Debian nodejs compiles each builtin from source at every start)', (t) => {
  // moduleLoadList names every builtin the process loaded; the atomic writer once pulled crypto in.
  const report = "process.on('exit', () => process.stderr.write('builtins: ' + process.moduleLoadList.filter((m) => /\\bcrypto\\b/.test(m)).join(',') + '\\n'))";
  for (const bin of ['daxram', 'daxramd']) {
    const r = spawnSync(process.execPath, ['-e', `${report}; process.argv.splice(1, 0, 'x'); require(${JSON.stringify(path.join(__dirname, `../bundle/${bin}.js`))})`, '--', '--help'], {encoding: 'utf8'});
    t.regex(r.stderr, /^builtins: $/m, `${bin}: ${r.stderr}`);
  }
});

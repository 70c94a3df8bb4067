import test from 'ava';
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import {execFileSync} from 'node:child_process';
import {UV_PRIORITIZED, UV_READABLE, type DaemonNative} from '../daemon/native';
import {backoffMs, EventSource} from '../daemon/daxramd/events';
import * as os from 'node:os';
import * as path from 'node:path';
import {loadDaemonNative as loadNative} from '../daemon/daxramd/notify';
import {Notifier, watchdogInterval} from '../daemon/daxramd/notify';

// A datagram receiver: Node cannot bind AF_UNIX datagram sockets, python can.
const RECEIVER = `
import socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(('\\0' + addr[1:]) if addr.startswith('@') else addr)
print('bound', flush=True)
for _ in range(int(sys.argv[2])):
    print(repr(s.recv(4096).decode()), flush=True)
`;

function receiver(addr: string, n: number): Promise<{ready: Promise<void>; done: Promise<string[]>}> {
  const p = spawn('python3', ['-c', RECEIVER, addr, String(n)], {stdio: ['ignore', 'pipe', 'inherit']});
  let out = '';
  let readyRes: () => void;
  const ready = new Promise<void>((r) => (readyRes = r));
  p.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('bound\n')) readyRes();
  });
  const done = new Promise<string[]>((resolve) => p.on('close', () => resolve(out.split('\n').slice(1).filter(Boolean).map((l) => l.slice(1, -1).replace(/\\n/g, '\n')))));
  return Promise.resolve({ready, done});
}

const hasPython = (() => {
  try {
    return require('node:child_process').spawnSync('python3', ['-c', 'pass']).status === 0;
  } catch {
    return false;
  }
})();

for (const kind of ['path', 'abstract'] as const) {
  (hasPython ? test : test.skip)(`sd_notify reaches a ${kind} NOTIFY_SOCKET through the addon`, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-notify-'));
    const addr = kind === 'path' ? path.join(dir, 'notify') : `@daxram-test-${process.pid}-${Date.now()}`;
    const r = await receiver(addr, 3);
    await r.ready;
    const n = new Notifier(loadNative(), {NOTIFY_SOCKET: addr});
    t.true(n.enabled);
    t.true(n.ready('1 device: dax0.0 ram\non node 1'));
    t.true(n.status('still fine'));
    t.true(n.stopping());
    const msgs = await r.done;
    t.deepEqual(msgs[0].split('\n').slice(0, 2), ['READY=1', 'STATUS=1 device: dax0.0 ram on node 1']);
    t.regex(msgs[0], new RegExp(`MAINPID=${process.pid}`));
    t.is(msgs[1], 'STATUS=still fine');
    t.is(msgs[2], 'STOPPING=1\nSTATUS=stopping');
  });
}

test('without NOTIFY_SOCKET nothing is sent; a dead socket is reported, not thrown', (t) => {
  const off = new Notifier(loadNative(), {});
  t.false(off.enabled);
  t.false(off.ready('x'));
  const errors: unknown[] = [];
  const dead = new Notifier(loadNative(), {NOTIFY_SOCKET: '/nonexistent/notify'}, (e) => errors.push(e));
  t.false(dead.send('READY=1'));
  t.is((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');
  t.throws(() => loadNative().sdNotify('relative', 'x'), {instanceOf: RangeError});
});

test('watchdog interval honours WATCHDOG_PID', (t) => {
  t.is(watchdogInterval({WATCHDOG_USEC: '30000000'}, 5), 30000000);
  t.is(watchdogInterval({WATCHDOG_USEC: '30000000', WATCHDOG_PID: '5'}, 5), 30000000);
  t.is(watchdogInterval({WATCHDOG_USEC: '30000000', WATCHDOG_PID: '6'}, 5), undefined);
  t.is(watchdogInterval({WATCHDOG_USEC: 'x'}, 5), undefined);
  t.is(watchdogInterval({}, 5), undefined);
});

function fifo(t: import('ava').ExecutionContext): {fd: number; path: string} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-fifo-'));
  const p = path.join(dir, 'f');
  execFileSync('mkfifo', [p]);
  // O_RDWR on a FIFO never blocks and keeps a writer, so reads see EAGAIN, not EOF.
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  t.teardown(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, {recursive: true, force: true});
  });
  return {fd, path: p};
}

test('FdWatcher (uv_poll) calls back on the event loop when the fd is readable, and close() stops it', async (t) => {
  const nat = loadNative() as unknown as DaemonNative;
  const {fd} = fifo(t);
  const seen: number[] = [];
  let wake: () => void = () => undefined;
  const w = new nat.FdWatcher(fd, UV_READABLE, (err, revents) => {
    t.is(err, null);
    seen.push(revents);
    fs.readSync(fd, Buffer.alloc(16), 0, 16, null); // drain, or a level-triggered watch fires again
    wake();
  });
  await new Promise<void>((r) => {
    wake = r;
    fs.writeSync(fd, 'x');
  });
  t.deepEqual(seen, [UV_READABLE]);
  w.close();
  fs.writeSync(fd, 'y');
  await new Promise((r) => setTimeout(r, 100));
  t.is(seen.length, 1, 'no callback after close');
  t.throws(() => new nat.FdWatcher(fd, 64, () => undefined), {instanceOf: RangeError});
});

test('EventSource: a watcher that keeps failing is re-armed after a growing delay, not in a busy loop', async (t) => {
  let armed = 0;
  const errors: unknown[] = [];
  const fake = {
    ueventOpen: () => fs.openSync('/dev/null', 'r'),
    sdNotify: () => undefined,
    FdWatcher: class {
      constructor(_fd: number, _ev: number, cb: (e: Error | null, r: number) => void) {
        armed++;
        setImmediate(() => cb(Object.assign(new Error('poll: EIO'), {code: 'EIO'}), 0));
      }
      close() {}
    },
  } as unknown as DaemonNative;
  const delays: number[] = [];
  const src = new EventSource(fake, {uevents: () => undefined, badblocks: () => undefined, error: (e) => errors.push(e)}, (p) => p, ['dax'], (n) => {
    delays.push(backoffMs(n));
    return 20 * n;
  });
  src.start();
  const t0 = Date.now();
  while (delays.length < 4 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
  const elapsed = Date.now() - t0;
  src.stop();
  // The fourth failure comes after waits of 20, 40 and 60 ms; an immediate retry would reach it
  // (and thousands more) in a millisecond or two. A loaded machine only makes this slower.
  t.true(elapsed >= 110, `four failures in ${elapsed} ms`);
  t.true(armed >= 4 && armed <= 5, `armed ${armed} times`);
  t.is(errors.length, armed);
  t.deepEqual(delays.slice(0, 4), [1000, 2000, 4000, 8000]);
  t.is(backoffMs(100), 300_000);
  const after = armed;
  await new Promise((r) => setTimeout(r, 100));
  t.is(armed, after, 'nothing re-armed after stop()');
});

test('EventSource: a notified badblocks attribute is re-read and reported', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-bb-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  fs.writeFileSync(path.join(dir, 'badblocks'), '');
  const fire: Array<() => void> = [];
  const fake = {
    ueventOpen: () => fs.openSync(path.join(dir, 'badblocks'), 'r'),
    sdNotify: () => undefined,
    FdWatcher: class {
      constructor(_fd: number, ev: number, cb: (e: Error | null, r: number) => void) {
        if (ev === UV_PRIORITIZED) fire.push(() => cb(null, UV_PRIORITIZED));
      }
      close() {}
    },
  } as unknown as DaemonNative;
  const changed: string[][] = [];
  const src = new EventSource(fake, {uevents: () => undefined, badblocks: (p) => changed.push(p), error: (e) => t.fail(String(e))}, (p) => path.join(dir, path.basename(p)));
  src.start();
  src.watchBadblocks(['/sys/bus/nd/devices/region0/badblocks']);
  t.is(fire.length, 1);
  fire[0]();
  t.deepEqual(changed, [['/sys/bus/nd/devices/region0/badblocks']]);
  src.watchBadblocks([]);
  src.stop();
});

test('EventSource: an attribute that cannot be polled (EPERM from epoll) is reported and retried later, not thrown', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-bb-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  fs.writeFileSync(path.join(dir, 'badblocks'), '');
  const nat = loadNative() as unknown as DaemonNative;
  const errors: unknown[] = [];
  const src = new EventSource({...nat, ueventOpen: () => fs.openSync('/dev/null', 'r'), FdWatcher: class {
    constructor(fd: number, ev: number, cb: (e: Error | null, r: number) => void) {
      if (ev === UV_PRIORITIZED) return new nat.FdWatcher(fd, ev, cb); // a regular file: the real addon refuses
    }
    close() {}
  }} as unknown as DaemonNative, {uevents: () => undefined, badblocks: () => undefined, error: (e) => errors.push(e)}, (p) => path.join(dir, path.basename(p)), ['dax'], () => 50);
  src.start();
  t.notThrows(() => src.watchBadblocks(['/sys/bus/nd/devices/region0/badblocks']));
  const t0 = Date.now();
  while (errors.length < 2 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
  const elapsed = Date.now() - t0;
  src.stop();
  // Reported, then retried after the 50 ms back-off: not at once, not never.
  t.is(errors.length, 2);
  t.true(elapsed >= 45, `second failure after ${elapsed} ms`);
  t.is((errors[0] as NodeJS.ErrnoException).code, 'EPERM');
});

test('EventSource: a trace pipe is followed once however often it is asked for, and reports whole lines (a partial one waits for its end)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-trace-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  const pipe = path.join(dir, 'trace_pipe');
  fs.writeFileSync(pipe, 'line one\nline tw');
  const fire: Array<() => void> = [];
  const fake = {
    ueventOpen: () => fs.openSync('/dev/null', 'r'),
    sdNotify: () => undefined,
    FdWatcher: class {
      constructor(_fd: number, ev: number, cb: (e: Error | null, r: number) => void) {
        if (ev === UV_READABLE) fire.push(() => cb(null, UV_READABLE));
      }
      close() {}
    },
  } as unknown as DaemonNative;
  const lines: string[][] = [];
  const src = new EventSource(fake, {uevents: () => undefined, badblocks: () => undefined, trace: (l) => lines.push(l), error: (e) => t.fail(String(e))}, (p) => path.join(dir, path.basename(p)));
  // After every reconcile daxramd asks again: one watcher, one open fd.
  for (let i = 0; i < 3; i++) src.watchTrace('/sys/kernel/tracing/instances/daxram-ras/trace_pipe');
  t.is(fire.length, 1);
  fire[0]();
  fs.appendFileSync(pipe, 'o\n');
  fire[0]();
  t.deepEqual(lines, [['line one'], ['line two']]);
  src.stop();
});

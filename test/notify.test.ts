import test from 'ava';
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
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

test('pollFds wakes on a pipe write and reports which fd is ready', async (t) => {
  const nat = loadNative();
  const [r, w] = nat.wakePipe();
  const [r2, w2] = nat.wakePipe();
  const p = nat.pollFds([r, r2], [1, 1]);
  fs.writeSync(w2, 'x');
  const rev = await p;
  t.is(rev[0], 0);
  t.is(rev[1] & 1, 1);
  for (const fd of [r, w, r2, w2]) fs.closeSync(fd);
});

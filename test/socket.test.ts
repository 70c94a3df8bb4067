import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {LockError, UsageError} from '../daemon/errors';
import {ControlServer, rawRequest, request, RemoteError} from '../daemon/ipc/socket';
import {loadDaemonNative} from '../daemon/daxramd/notify';

async function server(handlers: Record<string, any> = {}, maxRequest?: number, more: Partial<ConstructorParameters<typeof ControlServer>[2]> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-sock-'));
  const sock = path.join(dir, 'run/daxram/daxramd.sock');
  const s = new ControlServer(sock, {ping: () => 'pong', echo: (a: any) => a, fail: () => { throw new UsageError('no such thing', {device: 'dax9.9', fix: 'look'}); }, ...handlers}, {maxRequest, ...more});
  await s.listen();
  return {s, sock, dir};
}

test('the socket is created 0600 in a 0700 directory, and removed on close', async (t) => {
  const {s, sock} = await server();
  t.is(fs.statSync(sock).mode & 0o777, 0o600);
  t.is(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700);
  await s.close();
  t.false(fs.existsSync(sock));
});

test('a request gets its result; errors come back typed with device and fix', async (t) => {
  const {s, sock} = await server();
  t.is(await request(sock, 'ping'), 'pong');
  t.deepEqual(await request(sock, 'echo', {a: 1, b: 'x'}), {a: 1, b: 'x'});
  const e = await t.throwsAsync(request(sock, 'fail'), {instanceOf: RemoteError});
  t.is(e!.device, 'dax9.9');
  t.is(e!.fix, 'look');
  await s.close();
});

test('bad JSON, non-objects, missing and unknown verbs are errors, and the connection survives', async (t) => {
  const {s, sock} = await server();
  const bad = await rawRequest(sock, '{"verb": "ping"');
  t.false(bad.ok);
  t.is(bad.error!.code, 'EBADMSG');
  t.is((await rawRequest(sock, '[1,2]')).error!.code, 'EBADMSG');
  t.is((await rawRequest(sock, '{"args":{}}')).error!.code, 'EBADMSG');
  t.is((await rawRequest(sock, '{"verb":"ping","args":[1]}')).error!.code, 'EBADMSG');
  const unk = await rawRequest(sock, '{"id":7,"verb":"rm-rf"}');
  t.is(unk.id, 7);
  t.is(unk.error!.code, 'EUNKNOWNVERB');
  t.regex(unk.error!.fix!, /echo, fail, ping/);
  t.is((await rawRequest(sock, '{"verb":"__proto__"}')).error!.code, 'EUNKNOWNVERB');

  // Several requests on one connection, answered in order, after a bad one.
  const answers = await new Promise<string[]>((resolve) => {
    const c = net.connect(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n').filter(Boolean);
      if (lines.length === 3) {
        c.destroy();
        resolve(lines);
      }
    });
    c.write('garbage\n{"id":1,"verb":"ping"}\n{"id":2,"verb":"echo","args":{"x":1}}\n');
  });
  t.deepEqual(answers.map((l) => JSON.parse(l)), [
    {ok: false, error: {error: 'UsageError', code: 'EBADMSG', message: answers.length && JSON.parse(answers[0]).error.message}},
    {id: 1, ok: true, result: 'pong'},
    {id: 2, ok: true, result: {x: 1}},
  ]);
  await s.close();
});

test('an oversize request is refused with E2BIG and the connection closed; the handler never runs', async (t) => {
  let ran = false;
  const {s, sock} = await server({echo: () => { ran = true; return 1; }}, 1024);
  const r = await rawRequest(sock, JSON.stringify({verb: 'echo', args: {x: 'a'.repeat(5000)}}));
  t.false(r.ok);
  t.is(r.error!.code, 'E2BIG');
  // Without a newline at all: still refused once the buffer passes the limit.
  const r2 = await new Promise<string>((resolve) => {
    const c = net.connect(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (buf += d));
    c.on('close', () => resolve(buf));
    c.on('error', () => resolve(buf));
    c.write('x'.repeat(4096));
  });
  t.is(JSON.parse(r2.split('\n')[0]).error.code, 'E2BIG');
  t.false(ran);
  t.is(await request(sock, 'ping'), 'pong');
  await s.close();
});

test('the client refuses a socket others can use; the server refuses to start twice', async (t) => {
  const {s, sock} = await server();
  fs.chmodSync(sock, 0o666);
  await t.throwsAsync(request(sock, 'ping'), {instanceOf: LockError, message: /mode 666/});
  fs.chmodSync(sock, 0o600);
  fs.chmodSync(path.dirname(sock), 0o755);
  await t.throwsAsync(request(sock, 'ping'), {instanceOf: LockError, message: /mode 755/});
  fs.chmodSync(path.dirname(sock), 0o700);
  const second = new ControlServer(sock, {});
  await t.throwsAsync(second.listen(), {instanceOf: LockError, message: /another daxramd/});
  t.is(await request(sock, 'ping'), 'pong');
  await s.close();
});

test('a stale socket from a dead daemon is replaced', async (t) => {
  const {s, sock} = await server();
  // Simulate a crash: the file stays, nobody listens.
  const stale = sock + '.keep';
  fs.linkSync(sock, stale);
  await s.close();
  fs.renameSync(stale, sock);
  const s2 = new ControlServer(sock, {ping: () => 'pong2'});
  await s2.listen();
  t.is(await request(sock, 'ping'), 'pong2');
  await s2.close();
});

test('a regular file where the socket should be is refused', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-sock-'));
  const sock = path.join(dir, 'd', 'daxramd.sock');
  fs.mkdirSync(path.dirname(sock), {mode: 0o700});
  fs.writeFileSync(sock, 'x');
  await t.throwsAsync(new ControlServer(sock, {}).listen(), {instanceOf: LockError, message: /not a socket/});
  await t.throwsAsync(request(sock, 'ping'), {instanceOf: LockError});
});

/** A raw connection: what it was sent back, and whether the server closed it. */
function connect(sock: string): Promise<{c: net.Socket; got: () => string; closed: Promise<void>}> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let got = '';
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('data', (d) => {
      got += d.toString('utf8');
    });
    c.once('error', reject);
    c.once('connect', () => resolve({c, got: () => got, closed}));
  });
}

test('a peer that is not root is refused by its credentials (SO_PEERCRED), before it is read', async (t) => {
  const native = loadDaemonNative();
  let asked = 0;
  const refused: unknown[] = [];
  const {s, sock} = await server({ping: () => void asked++}, undefined, {peerCred: (fd) => ({...native.peerCred(fd), uid: 1234}), onError: (e) => refused.push(e)});
  t.teardown(() => s.close());
  const r = await rawRequest(sock, '{"verb": "ping"}');
  t.like(r.error, {code: 'EACCES', message: 'daxramd answers root only'});
  t.is(asked, 0);
  t.regex(String((refused[0] as Error).message), /refused a control connection from uid 1234 \(pid \d+\)/);
  // The real credentials: this process, root in CI (or the owner), are served.
  const {s: s2, sock: sock2} = await server({}, undefined, {peerCred: (fd) => native.peerCred(fd)});
  t.teardown(() => s2.close());
  t.is(await request(sock2, 'ping'), 'pong');
  t.like(native.peerCred(((await connect(sock2)).c as unknown as {_handle: {fd: number}})._handle.fd), {pid: process.pid});
});

test('the request limit counts bytes, not UTF-16 units: 180 KB of "€" is refused', async (t) => {
  let ran = 0;
  const {s, sock} = await server({echo: () => void ran++});
  t.teardown(() => s.close());
  const line = JSON.stringify({verb: 'echo', args: {x: '€'.repeat(60_000)}});
  t.true(line.length < 64 * 1024 && Buffer.byteLength(line) > 64 * 1024);
  const r = await rawRequest(sock, line);
  t.is(r.error?.code, 'E2BIG');
  t.is(ran, 0);
});

test('idle connections are closed; one with a request in flight is not', async (t) => {
  let release: () => void = () => undefined;
  const {s, sock} = await server({slow: () => new Promise<string>((r) => (release = () => r('done')))}, undefined, {idleTimeoutMs: 200});
  t.teardown(() => s.close());
  const idle = await connect(sock);
  await idle.closed; // closed by the server, with nothing sent
  t.is(idle.got(), '');
  const busy = await connect(sock);
  busy.c.write('{"id": 7, "verb": "slow"}\n');
  let closedEarly = false;
  void busy.closed.then(() => (closedEarly = true));
  await new Promise((r) => setTimeout(r, 600)); // three idle timeouts pass while the request runs
  t.false(closedEarly);
  release();
  await busy.closed; // answered, then idle again
  t.regex(busy.got(), /"id":7,"ok":true,"result":"done"/);
});

test('at most maxConnections at once: the next one is closed by the server', async (t) => {
  const {s, sock} = await server({}, undefined, {maxConnections: 2});
  t.teardown(() => s.close());
  const a = await connect(sock);
  const b = await connect(sock);
  const c = await connect(sock);
  await c.closed;
  t.is(c.got(), '');
  a.c.write('{"verb": "ping"}\n');
  b.c.write('{"verb": "ping"}\n');
  for (const x of [a, b]) {
    for (let i = 0; i < 200 && !x.got().includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
    t.regex(x.got(), /"result":"pong"/);
    x.c.destroy();
  }
});

test('back-pressure: a peer that pipelines requests and reads nothing stops being read; once it reads, every answer comes in order', async (t) => {
  let handled = 0;
  const {s, sock} = await server({n: (a: {i: number}) => (handled++, a.i)});
  t.teardown(() => s.close());
  const c = net.connect(sock);
  t.teardown(() => c.destroy());
  await new Promise((r) => c.once('connect', r));
  c.pause(); // read nothing
  const N = 100_000;
  const payload = Array.from({length: N}, (_, i) => `{"verb": "n", "args": {"i": ${i}}}\n`).join('');
  c.write(payload);
  // The server answers until its socket's send buffer and ours are full, then stops reading.
  let last = -1;
  for (let i = 0; i < 100 && handled !== last; i++) {
    last = handled;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.true(handled > 0 && handled < N, `handled ${handled} of ${N} while the peer read nothing`);
  const answers: number[] = [];
  let buf = '';
  c.on('data', (d) => {
    buf += d.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      answers.push((JSON.parse(buf.slice(0, nl)) as {result: number}).result);
      buf = buf.slice(nl + 1);
    }
  });
  c.resume();
  for (let i = 0; i < 600 && answers.length < N; i++) await new Promise((r) => setTimeout(r, 50));
  t.is(answers.length, N);
  t.true(answers.every((v, i) => v === i), 'in order');
});

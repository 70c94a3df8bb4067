import test from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {LockError, UsageError} from '../daemon/errors';
import {ControlServer, rawRequest, request, RemoteError} from '../daemon/ipc/socket';

async function server(handlers: Record<string, any> = {}, maxRequest?: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-sock-'));
  const sock = path.join(dir, 'run/daxram/daxramd.sock');
  const s = new ControlServer(sock, {ping: () => 'pong', echo: (a: any) => a, fail: () => { throw new UsageError('no such thing', {device: 'dax9.9', fix: 'look'}); }, ...handlers}, {maxRequest});
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

// The control socket, /run/daxram/daxramd.sock: how the CLI asks a running daemon to act, so
// the daemon records and serialises every change. Protocol: one JSON object per line,
//   request  {"id": any, "verb": "status", "args": {...}}
//   response {"id": any, "ok": true, "result": ...} | {"id": any, "ok": false, "error": {...}}
// Root-only: the directory is 0700 and the socket 0600, both owned by the daemon's user, the
// server checks each peer's credentials (SO_PEERCRED) as well, and the client refuses a socket
// that anyone else could have put there. A peer cannot make the daemon hold much for it: lines
// are counted in bytes and capped, one request is read at a time and the next only once the
// answer is written (a peer that does not read stops being read), idle connections are closed,
// and there are at most a few of them.
//
// One file over 300 lines: every limit above lives in the server and the client's check beside
// it; split, a path could miss a limit it should share.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {DaxramError, LockError, UsageError} from '../errors';
import {SOCKET_PATH} from '../config/paths';

export const DEFAULT_SOCKET = SOCKET_PATH;
/** Largest request line accepted, in bytes; requests are small verbs with a few arguments. */
export const MAX_REQUEST = 64 * 1024;
/** Connections served at once: a CLI command uses one for a moment. */
export const MAX_CONNECTIONS = 16;
/** A connection with no request in flight is closed after this long (ms). */
export const IDLE_TIMEOUT_MS = 30_000;

export type Handler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

export interface ProtocolError {
  error: string;
  message: string;
  code?: string;
  device?: string;
  fix?: string;
}

export interface Response {
  id?: unknown;
  ok: boolean;
  result?: unknown;
  error?: ProtocolError;
}

export class ControlServer {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly socketPath: string,
    private readonly handlers: Record<string, Handler>,
    private readonly opts: {
      maxRequest?: number;
      maxConnections?: number;
      idleTimeoutMs?: number;
      /** SO_PEERCRED of an accepted connection's fd (the addon); without it, the file modes alone keep others out. */
      peerCred?: (fd: number) => {uid: number; pid: number};
      onError?: (e: unknown) => void;
    } = {},
  ) {}

  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(dir, {recursive: true, mode: 0o700});
    // /run/daxram may have been created by a CLI run (for the engine's lock) before the daemon:
    // if it is ours, tighten it rather than refuse to start.
    const st = fs.lstatSync(dir);
    if (st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    checkOwned(dir, true);
    await removeStale(this.socketPath);
    const server = net.createServer((s) => this.serve(s));
    server.maxConnections = this.opts.maxConnections ?? MAX_CONNECTIONS;
    // The socket must never exist with a looser mode, not even between bind and chmod. (The
    // 0700 directory already keeps others out; umask is the second wall. Worker threads, as in
    // the test runner, cannot set it.)
    let old: number | undefined;
    try {
      old = process.umask(0o177);
    } catch {
      old = undefined;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      if (old !== undefined) process.umask(old);
    }
    fs.chmodSync(this.socketPath, 0o600);
    checkOwned(this.socketPath, false);
    this.server = server;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    try {
      fs.unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    if (!this.peerAllowed(sock)) return;
    const max = this.opts.maxRequest ?? MAX_REQUEST;
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    const idleMs = this.opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    sock.on('timeout', () => {
      // Idle means no request in flight: a reload may take minutes, and its caller waits. The
      // timer fires once per quiet spell: start it again while the request runs.
      if (busy) sock.setTimeout(idleMs);
      else sock.destroy();
    });
    sock.setTimeout(idleMs);
    const next = (): void => {
      if (busy || sock.destroyed) return;
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > max) this.tooLarge(sock, max);
        else sock.resume();
        return;
      }
      const line = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (line.length > max) return this.tooLarge(sock, max);
      const text = line.toString('utf8');
      if (text.trim() === '') return next();
      // One request at a time, answered in order; nothing more is read until its answer is
      // written out (or the peer stops reading and the write waits for 'drain').
      busy = true;
      sock.pause();
      void this.handleLine(text).then((resp) => {
        if (sock.destroyed) return;
        const flushed = sock.write(JSON.stringify(resp, bigintReplacer) + '\n');
        const go = () => {
          busy = false;
          next();
        };
        if (flushed) go();
        else sock.once('drain', go);
      });
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      next();
    });
  }

  /** Root (or the daemon's own user, in tests) only, by the peer's credentials. */
  private peerAllowed(sock: net.Socket): boolean {
    const peerCred = this.opts.peerCred;
    if (!peerCred) return true;
    const fd = (sock as unknown as {_handle?: {fd?: number}})._handle?.fd;
    try {
      if (typeof fd !== 'number' || fd < 0) throw new Error('no fd for the connection');
      const cred = peerCred(fd);
      if (trustedUid(cred.uid)) return true;
      this.opts.onError?.(new LockError(`refused a control connection from uid ${cred.uid} (pid ${cred.pid})`, {path: this.socketPath}));
    } catch (e) {
      this.opts.onError?.(e);
    }
    const resp: Response = {ok: false, error: {error: 'LockError', code: 'EACCES', message: 'daxramd answers root only'}};
    sock.pause();
    sock.end(JSON.stringify(resp) + '\n', () => sock.destroy());
    return false;
  }

  private tooLarge(sock: net.Socket, max: number): void {
    const resp: Response = {ok: false, error: {error: 'UsageError', code: 'E2BIG', message: `request larger than ${max} bytes`}};
    // Nothing more is read from this peer: once the answer is out, the connection is gone (a
    // half-closed one would count against the connection cap for ever).
    sock.pause();
    sock.end(JSON.stringify(resp) + '\n', () => sock.destroy());
  }

  async handleLine(line: string): Promise<Response> {
    let req: {id?: unknown; verb?: unknown; args?: unknown};
    try {
      req = JSON.parse(line);
    } catch (e) {
      return {ok: false, error: {error: 'UsageError', code: 'EBADMSG', message: `bad JSON: ${(e as Error).message}`}};
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return {ok: false, error: {error: 'UsageError', code: 'EBADMSG', message: 'a request is a JSON object {"verb": …, "args": {…}}'}};
    }
    const id = req.id;
    if (typeof req.verb !== 'string') return {id, ok: false, error: {error: 'UsageError', code: 'EBADMSG', message: 'request has no "verb" string'}};
    const h = Object.prototype.hasOwnProperty.call(this.handlers, req.verb) ? this.handlers[req.verb] : undefined;
    if (!h) {
      return {id, ok: false, error: {error: 'UsageError', code: 'EUNKNOWNVERB', message: `unknown verb "${req.verb}"`, fix: `verbs: ${Object.keys(this.handlers).sort().join(', ')}`}};
    }
    const args = req.args ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return {id, ok: false, error: {error: 'UsageError', code: 'EBADMSG', message: '"args" must be an object'}};
    try {
      return {id, ok: true, result: await h(args as Record<string, unknown>)};
    } catch (e) {
      this.opts.onError?.(e);
      return {id, ok: false, error: errorBody(e)};
    }
  }
}

export function errorBody(e: unknown): ProtocolError {
  if (e instanceof DaxramError) return {error: e.name, message: e.message, code: e.code, device: e.device, fix: e.fix};
  return {error: 'Error', message: String((e as Error)?.message ?? e)};
}

/** The error a failed response stands for, rebuilt as a DaxramError for the CLI to report. */
export class RemoteError extends DaxramError {
  readonly remote: string;
  constructor(body: ProtocolError) {
    super(body.message, {device: body.device, fix: body.fix, code: body.code});
    this.remote = body.error;
  }
}

function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v;
}

/** Who may own the control socket: root, or (tests, unprivileged runs) ourselves. */
function trustedUid(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

/** Refuse a socket or directory that someone other than root/us owns or others can reach. */
export function checkOwned(p: string, isDir: boolean): void {
  const st = fs.lstatSync(p);
  const kindOk = isDir ? st.isDirectory() : st.isSocket();
  if (!kindOk) throw new LockError(`${p} is not a ${isDir ? 'directory' : 'socket'}`, {path: p, fix: `remove ${p}; the daemon recreates it`});
  if (!trustedUid(st.uid)) throw new LockError(`${p} is owned by uid ${st.uid}, not root`, {path: p, fix: `remove ${p} and restart daxramd`});
  if ((st.mode & 0o077) !== 0) {
    throw new LockError(`${p} has mode ${(st.mode & 0o777).toString(8)}; only its owner may use it`, {path: p, fix: `chmod ${isDir ? '700' : '600'} ${p}, or restart daxramd`});
  }
}

/** A socket file left by a daemon that died: remove it. One that answers belongs to a live daemon. */
async function removeStale(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new LockError(`${p} exists and is not a socket`, {path: p, fix: `remove ${p}`});
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new LockError(`another daxramd is listening on ${p}`, {path: p, fix: 'stop it first: systemctl stop daxramd'});
  fs.unlinkSync(p);
}

/** Is a daemon reachable on this socket? (Checks ownership; never throws.) */
export function daemonSocketPresent(socketPath = DEFAULT_SOCKET): boolean {
  try {
    checkOwned(socketPath, false);
    return true;
  } catch {
    return false;
  }
}

export interface RequestOptions {
  /** Give up after this long (ms); undefined waits as long as the operation takes. */
  timeoutMs?: number;
}

/** Send one request and wait for its response. Throws RemoteError for a failed response. */
export async function request(socketPath: string, verb: string, args: Record<string, unknown> = {}, opts: RequestOptions = {}): Promise<unknown> {
  const resp = await rawRequest(socketPath, JSON.stringify({id: 1, verb, args}, bigintReplacer), opts);
  if (!resp.ok) throw new RemoteError(resp.error ?? {error: 'Error', message: 'daemon returned an error without details'});
  return resp.result;
}

/** Send one raw line (tests use it for malformed input) and return the first response line. */
export async function rawRequest(socketPath: string, line: string, opts: RequestOptions = {}): Promise<Response> {
  checkOwned(path.dirname(socketPath), true);
  checkOwned(socketPath, false);
  return new Promise<Response>((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = '';
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        c.destroy();
        reject(new UsageError(`daxramd did not answer within ${opts.timeoutMs} ms`, {path: socketPath, fix: 'check `systemctl status daxramd`'}));
      }, opts.timeoutMs);
    }
    const done = (f: () => void) => {
      if (timer) clearTimeout(timer);
      c.destroy();
      f();
    };
    c.setEncoding('utf8');
    c.on('connect', () => c.write(line.endsWith('\n') ? line : line + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const r = JSON.parse(buf.slice(0, nl)) as Response;
        done(() => resolve(r));
      } catch (e) {
        done(() => reject(new UsageError(`daxramd sent a malformed response: ${(e as Error).message}`, {path: socketPath})));
      }
    });
    c.on('error', (e) => done(() => reject(new LockError(`cannot reach daxramd at ${socketPath}: ${e.message}`, {path: socketPath, cause: e}))));
    c.on('end', () => {
      if (buf.indexOf('\n') < 0) done(() => reject(new LockError(`daxramd closed the connection without answering`, {path: socketPath})));
    });
  });
}

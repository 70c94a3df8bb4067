// The host side of a running guest, for tests that act on the machine while the guest script
// runs (hot-adding a DIMM): QEMU's QMP socket and the results share. The guest says when it
// is ready by creating a file in $HARNESS_OUT; the host waits for it, then acts.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {sleep} from './util';

export interface GuestControl {
  /** Wait for the guest to create $HARNESS_OUT/<name>. */
  waitForFile(name: string, timeoutMs?: number): Promise<void>;
  /** Run one QMP command; resolves with its "return", rejects with its "error". */
  qmp(execute: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Create $HARNESS_OUT/<name> for the guest to see. */
  signal(name: string, text?: string): void;
}

export function guestControl(outDir: string, qmpSocket: string, isRunning: () => boolean): GuestControl {
  let conn: Promise<{send: (line: string) => Promise<Record<string, unknown>>}> | undefined;
  const connect = async () => {
    for (let i = 0; !fs.existsSync(qmpSocket); i++) {
      if (i > 600) throw new Error(`no QMP socket at ${qmpSocket}`);
      await sleep(100);
    }
    const sock = net.connect(qmpSocket);
    let buf = '';
    const waiting: Array<(m: Record<string, unknown>) => void> = [];
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line) as Record<string, unknown>;
        if ('event' in m) continue; // asynchronous events: not answers
        waiting.shift()?.(m);
      }
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    const next = () => new Promise<Record<string, unknown>>((r) => waiting.push(r));
    await next(); // greeting
    const send = (line: string) => {
      const p = next();
      sock.write(line + '\n');
      return p;
    };
    await send(JSON.stringify({execute: 'qmp_capabilities'}));
    return {send};
  };
  return {
    async waitForFile(name, timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      while (!fs.existsSync(path.join(outDir, name))) {
        if (!isRunning()) throw new Error(`the guest ended before it created ${name}`);
        if (Date.now() > deadline) throw new Error(`the guest did not create ${name} within ${timeoutMs} ms`);
        await sleep(250);
      }
    },
    async qmp(execute, args) {
      conn ??= connect();
      const c = await conn;
      const r = await c.send(JSON.stringify(args ? {execute, arguments: args} : {execute}));
      if ('error' in r) throw new Error(`QMP ${execute}: ${JSON.stringify(r.error)}`);
      return r.return;
    },
    signal(name, text = '') {
      fs.writeFileSync(path.join(outDir, name), text);
    },
  };
}

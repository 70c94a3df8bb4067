// One queue of guest work for the whole machine. TCG guests are CPU-bound and their timeouts
// are wall clock, so at most DAXRAM_GUEST_SLOTS (default: the CPU count) QEMUs may run at
// once, across every ava worker, every kernel's run and every checkout on the machine. A
// coordinator owns the slots and grants them from one queue: the longest work first (by the
// test file's guest time in the last run, so a file that boots four guests in a row starts
// early instead of ending the suite alone), then in arrival order.
//
// Why a coordinator and not lock files: a slot must be freed when its holder dies, whatever
// killed it. Here a slot is held by a connection; the kernel closes it when the holder dies,
// and the coordinator then makes sure the holder's QEMU is gone (SIGKILL unless it is already
// a zombie or exited) before anyone else gets the slot. No pid file can go stale, and a zombie
// QEMU (dead, not yet reaped by a parent that lost its event loop) never holds a slot.
//
// The coordinator listens on a Linux abstract socket (no file to go stale; bind is the lock).
// The suite runner hosts it for the whole run; a harness that finds none starts a detached one
// that exits once idle. Protocol: one JSON object per line.
//   client → {op: 'acquire', label, file, kernel, estimateMs}   server → {op: 'granted', slot}
//   client → {op: 'qemu', pid}     client → {op: 'phase', phase}
//   client → {op: 'release'}  (or the connection closes)          server → {op: 'released'}
//   client → {op: 'status'}                                        server → {op: 'status', …}
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {kernelTestDir} from './lab';
import {processStartTime, processState, sleep} from './util';

/**
 * The coordinator's abstract socket address: "\0" + DAXRAM_GUEST_SCHEDULER (a test's private
 * one), else one per uid.
 */
export function schedulerAddress(): string {
  return `\0${process.env.DAXRAM_GUEST_SCHEDULER ?? `daxram-guest-scheduler-${process.getuid?.() ?? 0}`}`;
}

export function defaultSlots(): number {
  return Math.max(1, Number(process.env.DAXRAM_GUEST_SLOTS) || os.cpus().length);
}

export interface GuestRecord {
  label: string;
  file: string;
  kernel: string;
  waitedMs: number;
  heldMs: number;
  /** 'released' by its holder, or 'abandoned': the holder's connection closed without a release. */
  outcome: 'released' | 'abandoned';
}

export interface SchedulerStatus {
  slots: number;
  running: Array<{slot: number; label: string; kernel: string; heldMs: number; qemuPid?: number; phase?: string}>;
  queued: Array<{label: string; kernel: string; waitedMs: number; estimateMs: number}>;
  done: GuestRecord[];
}

interface Request {
  label: string;
  file: string;
  kernel: string;
  estimateMs: number;
  arrived: number;
  seq: number;
  grant: (slot: number) => void;
}

interface Holder {
  req: Request;
  granted: number;
  qemuPid?: number;
  qemuStart?: string;
  phase?: string;
}

/** The queue and the slots, without any I/O but killing a dead holder's QEMU. */
export class GuestQueue {
  private readonly queue: Request[] = [];
  private readonly holders: Array<Holder | undefined>;
  private readonly reclaiming = new Set<number>();
  private seq = 0;
  readonly done: GuestRecord[] = [];

  constructor(readonly slots: number, private readonly log: (line: string) => void = () => undefined) {
    this.holders = new Array<Holder | undefined>(slots).fill(undefined);
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.holders.every((h) => !h) && this.reclaiming.size === 0;
  }

  enqueue(r: Omit<Request, 'arrived' | 'seq'>): Request {
    const req: Request = {...r, arrived: Date.now(), seq: this.seq++};
    this.queue.push(req);
    this.dispatch();
    return req;
  }

  /** Drop a request that was never granted (its client went away while waiting). */
  withdraw(req: Request): void {
    const i = this.queue.indexOf(req);
    if (i >= 0) this.queue.splice(i, 1);
  }

  holderOf(req: Request): number {
    return this.holders.findIndex((h) => h?.req === req);
  }

  noteQemu(slot: number, pid: number): void {
    const h = this.holders[slot];
    if (h) {
      h.qemuPid = pid;
      h.qemuStart = processStartTime(pid);
    }
  }

  notePhase(slot: number, phase: string): void {
    const h = this.holders[slot];
    if (h) h.phase = phase;
  }

  /**
   * Free a slot. A holder that went away without releasing may have left its QEMU running (a
   * worker killed by a timeout): the slot stays taken until that QEMU is gone or a zombie.
   */
  async release(slot: number, outcome: GuestRecord['outcome']): Promise<void> {
    const h = this.holders[slot];
    if (!h) return;
    this.done.push({
      label: h.req.label, file: h.req.file, kernel: h.req.kernel,
      waitedMs: h.granted - h.req.arrived, heldMs: Date.now() - h.granted, outcome,
    });
    if (h.qemuPid !== undefined && processState(h.qemuPid, h.qemuStart) === 'running') {
      this.reclaiming.add(slot);
      this.log(`slot ${slot}: ${h.req.label} (${h.req.kernel}) left QEMU ${h.qemuPid} running; killing it`);
      try {
        process.kill(h.qemuPid, 'SIGKILL');
      } catch { /* gone meanwhile */ }
      for (let i = 0; i < 100 && processState(h.qemuPid, h.qemuStart) === 'running'; i++) await sleep(100);
      if (processState(h.qemuPid, h.qemuStart) === 'running') this.log(`slot ${slot}: QEMU ${h.qemuPid} survived SIGKILL for 10 s; freeing the slot anyway`);
      this.reclaiming.delete(slot);
    }
    this.holders[slot] = undefined;
    this.dispatch();
  }

  status(): SchedulerStatus {
    const now = Date.now();
    return {
      slots: this.slots,
      running: this.holders.flatMap((h, slot) => (h ? [{slot, label: h.req.label, kernel: h.req.kernel, heldMs: now - h.granted, qemuPid: h.qemuPid, phase: h.phase}] : [])),
      queued: this.ordered().map((r) => ({label: r.label, kernel: r.kernel, waitedMs: now - r.arrived, estimateMs: r.estimateMs})),
      done: this.done,
    };
  }

  /** Longest estimated work first, then first come. */
  private ordered(): Request[] {
    return [...this.queue].sort((a, b) => b.estimateMs - a.estimateMs || a.seq - b.seq);
  }

  private dispatch(): void {
    for (;;) {
      const slot = this.holders.findIndex((h, i) => !h && !this.reclaiming.has(i));
      if (slot < 0 || this.queue.length === 0) return;
      const next = this.ordered()[0];
      this.withdraw(next);
      this.holders[slot] = {req: next, granted: Date.now()};
      next.grant(slot);
    }
  }
}

/** Newline-delimited JSON over a socket, both ways. */
function lines(sock: net.Socket, onMessage: (m: Record<string, unknown>) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        onMessage(JSON.parse(line) as Record<string, unknown>);
      } catch {
        sock.destroy();
      }
    }
  });
}

const send = (sock: net.Socket, m: Record<string, unknown>) => {
  if (!sock.destroyed) sock.write(`${JSON.stringify(m)}\n`);
};

export interface SchedulerServer {
  queue: GuestQueue;
  close(): Promise<void>;
}

/**
 * Serve the queue on `address`. Rejects with EADDRINUSE when another coordinator already
 * serves it (then use that one). With `idleExitMs`, closes itself once idle that long.
 */
export function serveScheduler(opts: {address?: string; slots?: number; idleExitMs?: number; log?: (line: string) => void} = {}): Promise<SchedulerServer> {
  const queue = new GuestQueue(opts.slots ?? defaultSlots(), opts.log);
  const clients = new Set<net.Socket>();
  let idleTimer: NodeJS.Timeout | undefined;
  const server = net.createServer((sock) => {
    clients.add(sock);
    if (idleTimer) clearTimeout(idleTimer);
    let req: Request | undefined;
    let slot = -1;
    const finish = async (outcome: GuestRecord['outcome']) => {
      if (req && slot < 0) queue.withdraw(req);
      const s = slot;
      slot = -1;
      if (s >= 0) await queue.release(s, outcome);
    };
    lines(sock, (m) => {
      switch (m.op) {
        case 'acquire':
          if (req) return;
          req = queue.enqueue({
            label: String(m.label ?? '?'), file: String(m.file ?? m.label ?? '?'), kernel: String(m.kernel ?? '?'),
            estimateMs: Number(m.estimateMs) || 0,
            grant: (s) => {
              slot = s;
              send(sock, {op: 'granted', slot: s});
            },
          });
          break;
        case 'qemu':
          if (slot >= 0 && Number.isInteger(m.pid)) queue.noteQemu(slot, m.pid as number);
          break;
        case 'phase':
          if (slot >= 0) queue.notePhase(slot, String(m.phase));
          break;
        case 'release':
          void finish('released').then(() => send(sock, {op: 'released'}));
          break;
        case 'status':
          send(sock, {op: 'status', ...queue.status()});
          break;
        default:
          sock.destroy();
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clients.delete(sock);
      void finish('abandoned').then(armIdle);
    });
  });
  const armIdle = () => {
    if (!opts.idleExitMs || clients.size > 0 || !queue.idle) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if (clients.size === 0 && queue.idle) server.close();
    }, opts.idleExitMs);
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.address ?? schedulerAddress(), () => {
      server.removeListener('error', reject);
      armIdle();
      resolve({
        queue,
        close: () => new Promise<void>((r) => {
          for (const c of clients) c.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

function connect(address: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(address);
    sock.once('connect', () => {
      sock.removeListener('error', reject);
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/** Connect to the coordinator; when there is none, start a detached one that exits once idle. */
async function connectOrStart(address: string): Promise<net.Socket> {
  try {
    return await connect(address);
  } catch { /* none yet */ }
  const child = spawn(process.execPath, [__filename, '--serve'], {
    detached: true,
    stdio: 'ignore',
    env: {...process.env, DAXRAM_GUEST_SCHEDULER: address.replace(/^\0/, '')},
  });
  child.unref();
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    await sleep(50 + i * 10);
    try {
      return await connect(address);
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no guest scheduler at ${address.replace('\0', '@')} and none could be started: ${String(last)}`);
}

export interface SlotLease {
  slot: number;
  /** How long the request waited for its slot. */
  waitedMs: number;
  setQemuPid(pid: number): void;
  setPhase(phase: string): void;
  release(): Promise<void>;
}

/** Wait for a guest slot. The lease ends with release(), or when this process dies. */
export async function acquireSlot(what: {label: string; file: string; kernel: string; estimateMs: number}, address = schedulerAddress()): Promise<SlotLease> {
  const sock = await connectOrStart(address);
  const t0 = Date.now();
  let released: (() => void) | undefined;
  const slot = await new Promise<number>((resolve, reject) => {
    lines(sock, (m) => {
      if (m.op === 'granted') resolve(Number(m.slot));
      if (m.op === 'released') released?.();
    });
    sock.once('close', () => reject(new Error('the guest scheduler went away while this guest waited for a slot')));
    send(sock, {op: 'acquire', ...what});
  });
  // The lease must not keep a finished test process alive.
  sock.unref();
  return {
    slot,
    waitedMs: Date.now() - t0,
    setQemuPid: (pid) => send(sock, {op: 'qemu', pid}),
    setPhase: (phase) => send(sock, {op: 'phase', phase}),
    release: () => new Promise<void>((resolve) => {
      if (sock.destroyed) return resolve();
      // Until the coordinator confirms, this process must not end on an empty event loop.
      sock.ref();
      released = () => {
        sock.end();
        resolve();
      };
      sock.once('close', () => resolve());
      send(sock, {op: 'release'});
    }),
  };
}

/** The coordinator's view, or undefined when none is running. */
export async function schedulerStatus(address = schedulerAddress()): Promise<SchedulerStatus | undefined> {
  let sock: net.Socket;
  try {
    sock = await connect(address);
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    lines(sock, (m) => {
      if (m.op === 'status') {
        sock.end();
        resolve(m as unknown as SchedulerStatus);
      }
    });
    sock.once('close', () => resolve(undefined));
    send(sock, {op: 'status'});
  });
}

/** One line per slot and the queue's head, for progress reports and timeout messages. */
export function describeStatus(s: SchedulerStatus): string {
  const sec = (ms: number) => `${Math.round(ms / 1000)} s`;
  const run = s.running.map((r) => `slot ${r.slot}: [${r.kernel}] ${r.label}, ${sec(r.heldMs)}${r.phase ? `, ${r.phase}` : ''}`);
  const q = s.queued.length ? [`queued: ${s.queued.length} (${s.queued.slice(0, 3).map((r) => `[${r.kernel}] ${r.label} waiting ${sec(r.waitedMs)}`).join('; ')}${s.queued.length > 3 ? '; …' : ''})`] : [];
  return [...run, ...(run.length ? [] : ['no guest running']), ...q].join('\n');
}

// ---------------------------------------------------------------------------------------
// Estimates: the guest time each test file took on each kernel in the last recorded run.

const ESTIMATES = path.join(kernelTestDir(), 'guest-times.json');

type Estimates = Record<string, Record<string, number>>;

function readEstimates(file = ESTIMATES): Estimates {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Estimates;
  } catch {
    return {};
  }
}

let estimates: Estimates | undefined;

/** Estimated guest time of a test file on a kernel (its whole file: chains of boots go first). */
export function estimateFor(kernel: string, file: string, fallbackMs: number): number {
  estimates ??= readEstimates();
  return estimates[kernel]?.[file] ?? fallbackMs;
}

/** Guest time per kernel and file, from a run's records (what guest-times.json holds). */
export function fileTimes(done: GuestRecord[]): Estimates {
  const out: Estimates = {};
  for (const d of done) {
    const k = (out[d.kernel] ??= {});
    k[d.file] = (k[d.file] ?? 0) + d.heldMs;
  }
  return out;
}

/** Merge a run's file times into guest-times.json (a partial run keeps the other files' times). */
export function writeEstimates(e: Estimates, file = ESTIMATES): void {
  const merged = readEstimates(file);
  for (const [k, files] of Object.entries(e)) merged[k] = {...merged[k], ...files};
  const sorted: Estimates = {};
  for (const k of Object.keys(merged).sort()) {
    sorted[k] = Object.fromEntries(Object.entries(merged[k]).sort(([a], [b]) => a.localeCompare(b)).map(([f, ms]) => [f, Math.round(ms / 1000) * 1000]));
  }
  fs.writeFileSync(file, `${JSON.stringify(sorted, null, 2)}\n`);
}

if (require.main === module && process.argv[2] === '--serve') {
  // A detached coordinator started by a harness that found none: serve until idle for a minute.
  serveScheduler({idleExitMs: 60_000}).catch((e: NodeJS.ErrnoException) => {
    process.exitCode = e.code === 'EADDRINUSE' ? 0 : 1;
  });
}

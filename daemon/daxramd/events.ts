// What wakes the daemon: kernel uevents for dax and nd devices (add, remove, bind, unbind),
// sysfs_notify on the badblocks attribute of regions whose memory is RAM, and the trace_pipe of
// daxram's tracefs instance for CXL media errors (daxramd/ras.ts). Each fd is watched on
// the event loop (the addon's FdWatcher, uv_poll): no thread parked in poll(2), no timers, so an
// idle daemon uses no CPU. A uevent is only a hint to rescan sysfs; its content is parsed for
// logging, never trusted to decide anything. An fd that keeps failing is re-armed after a
// growing delay, so a broken attribute cannot turn into a busy loop that floods the log.

import * as fs from 'node:fs';
import {UV_PRIORITIZED, UV_READABLE, type DaemonNative} from '../native';

export interface Uevent {
  action: string;
  devpath: string;
  subsystem?: string;
  devname?: string;
}

export interface EventHandlers {
  uevents(evs: Uevent[]): void;
  /** Badblocks of these kernel paths changed (their new content is re-read by the caller). */
  badblocks(paths: string[]): void;
  /** Whole lines read from the watched trace_pipe. */
  trace?(lines: string[]): void;
  error(e: unknown): void;
}

/** "add@/devices/…/dax0.0\0ACTION=add\0SUBSYSTEM=dax\0…" → Uevent (kernel format only). */
export function parseUevent(buf: Buffer): Uevent | undefined {
  const parts = buf.toString('utf8').split('\0');
  const head = parts[0];
  const at = head.indexOf('@');
  if (at <= 0) return undefined; // udevd's own "libudev" messages are not on the kernel group
  const env: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq > 0) env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return {action: env.ACTION ?? head.slice(0, at), devpath: env.DEVPATH ?? head.slice(at + 1), subsystem: env.SUBSYSTEM, devname: env.DEVNAME};
}

/** Delay before re-arming after the n-th consecutive failure: 1 s doubling to 5 min. */
export function backoffMs(failures: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(0, failures - 1));
}

interface Watched {
  fd: number;
  watcher?: {close(): void};
  failures: number;
  retry?: NodeJS.Timeout;
}

export class EventSource {
  private uevent?: Watched;
  private trace?: Watched & {path: string; partial: string};
  private readonly attrs = new Map<string, Watched>();
  private stopped = false;
  private readonly buf = Buffer.alloc(16384);

  constructor(
    private readonly native: DaemonNative,
    private readonly h: EventHandlers,
    /** Host path of a kernel path (fixture roots). */
    private readonly hostPath: (kernelPath: string) => string = (p) => p,
    private readonly subsystems = ['dax', 'nd'],
    private readonly backoff: (failures: number) => number = backoffMs,
  ) {}

  start(): void {
    const fd = this.native.ueventOpen();
    this.uevent = {fd, failures: 0};
    this.armUevent();
  }

  private armUevent(): void {
    const w = this.uevent!;
    try {
      w.watcher = new this.native.FdWatcher(w.fd, UV_READABLE, (err) => {
        if (err) return this.failed(w, err, () => this.armUevent());
        w.failures = 0;
        const evs = this.drainUevents(w);
        if (evs.length) this.h.uevents(evs);
      });
    } catch (e) {
      this.failed(w, e, () => this.armUevent());
    }
  }

  /** Replace the set of badblocks attributes being watched (kernel paths). */
  watchBadblocks(paths: string[]): void {
    if (this.stopped) return;
    const want = new Set(paths);
    for (const [p, w] of this.attrs) {
      if (want.has(p)) continue;
      this.close(w);
      this.attrs.delete(p);
    }
    for (const p of want) if (!this.attrs.has(p)) this.armAttr(p);
  }

  private armAttr(p: string): void {
    let fd: number;
    try {
      fd = fs.openSync(this.hostPath(p), 'r');
      // A read arms sysfs_notify: the attribute reports POLLPRI once its content changes after it.
      fs.readSync(fd, this.buf, 0, this.buf.length, 0);
    } catch (e) {
      const w = this.attrs.get(p) ?? {fd: -1, failures: 0};
      this.attrs.set(p, w);
      return this.failed(w, e, () => this.armAttr(p));
    }
    const w: Watched = {fd, failures: this.attrs.get(p)?.failures ?? 0};
    this.attrs.set(p, w);
    try {
      w.watcher = this.watchAttr(p, w);
    } catch (e) {
      // Not pollable (a regular file under a fixture root; EPERM from epoll).
      this.close(w);
      this.failed(w, e, () => this.armAttr(p));
    }
  }

  private watchAttr(p: string, w: Watched): {close(): void} {
    const fd = w.fd;
    return new this.native.FdWatcher(fd, UV_PRIORITIZED, (err) => {
      if (err) {
        this.close(w);
        return this.failed(w, err, () => this.armAttr(p));
      }
      try {
        // Re-read to re-arm, else the level-triggered watcher reports the same change again.
        fs.readSync(fd, this.buf, 0, this.buf.length, 0);
        w.failures = 0;
      } catch (e) {
        this.close(w);
        return this.failed(w, e, () => this.armAttr(p));
      }
      this.h.badblocks([p]);
    });
  }

  /**
   * Follow a trace_pipe (kernel path): readable when events arrive; each read consumes them, so
   * nothing is handled twice. Non-blocking, so a drain never parks the event loop. Called after
   * every reconcile: the pipe already followed (or waiting to be re-armed) is left as it is.
   */
  watchTrace(p: string): void {
    if (this.stopped) return;
    if (this.trace?.path === p && (this.trace.watcher || this.trace.retry)) return;
    if (this.trace) this.close(this.trace);
    const w = this.trace?.path === p ? this.trace : {fd: -1, failures: 0, path: p, partial: ''};
    this.trace = w;
    try {
      w.fd = fs.openSync(this.hostPath(p), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      w.watcher = new this.native.FdWatcher(w.fd, UV_READABLE, (err) => {
        if (err) {
          this.close(w);
          return this.failed(w, err, () => this.watchTrace(p));
        }
        w.failures = 0;
        const lines = this.drainTrace(w);
        if (lines.length) this.h.trace?.(lines);
      });
    } catch (e) {
      this.close(w);
      this.failed(w, e, () => this.watchTrace(p));
    }
  }

  private drainTrace(w: Watched & {partial: string}): string[] {
    let text = w.partial;
    this.drain(w, (chunk) => void (text += chunk.toString('utf8')));
    const lines = text.split('\n');
    w.partial = lines.pop() ?? '';
    return lines.filter(Boolean);
  }

  private failed(w: Watched, e: unknown, rearm: () => void): void {
    w.failures++;
    this.h.error(e);
    w.watcher?.close();
    w.watcher = undefined;
    if (this.stopped) return;
    w.retry = setTimeout(() => {
      w.retry = undefined;
      if (!this.stopped) rearm();
    }, this.backoff(w.failures));
  }

  private close(w: Watched): void {
    if (w.retry) clearTimeout(w.retry);
    w.watcher?.close();
    w.watcher = undefined;
    if (w.fd >= 0) {
      try {
        fs.closeSync(w.fd);
      } catch {
        /* already closed */
      }
      w.fd = -1;
    }
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.attrs.values()) this.close(w);
    this.attrs.clear();
    if (this.uevent) this.close(this.uevent);
    if (this.trace) this.close(this.trace);
  }

  private drainUevents(w: Watched): Uevent[] {
    const out: Uevent[] = [];
    // One read, one uevent (a netlink datagram).
    this.drain(w, (chunk) => {
      const ev = parseUevent(chunk);
      if (ev && ev.subsystem && this.subsystems.includes(ev.subsystem)) out.push(ev);
    });
    return out;
  }

  /** Read a non-blocking fd until it has nothing more (EAGAIN or end), each read to `chunk`. */
  private drain(w: Watched, chunk: (b: Buffer) => void): void {
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(w.fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') this.h.error(e);
        return;
      }
      if (n <= 0) return;
      chunk(this.buf.subarray(0, n));
    }
  }
}

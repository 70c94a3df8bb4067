// What wakes the daemon: kernel uevents for dax and nd devices (add, remove, bind, unbind) and
// sysfs_notify on the badblocks attribute of regions whose memory we manage. Both are waited
// for with one poll(2) on a worker thread (native/notify.cc): no timers, no polling loops, so
// an idle daemon uses no CPU. A uevent is only a hint to rescan sysfs; its content is parsed
// for logging, never trusted to decide anything.

import * as fs from 'node:fs';
import type {DaemonNative} from '../native';

const POLLIN = 0x1;
const POLLPRI = 0x2;
const POLLERR = 0x8;

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

export class EventSource {
  private ueventFd?: number;
  private wakeR?: number;
  private wakeW?: number;
  private watched: string[] = [];
  private running = false;
  private stopped = false;

  constructor(
    private readonly native: DaemonNative,
    private readonly h: EventHandlers,
    /** Host path of a kernel path (fixture roots). */
    private readonly hostPath: (kernelPath: string) => string = (p) => p,
    private readonly subsystems = ['dax', 'nd'],
  ) {}

  start(): void {
    this.ueventFd = this.native.ueventOpen();
    [this.wakeR, this.wakeW] = this.native.wakePipe();
    this.running = true;
    void this.loop();
  }

  /** Replace the set of badblocks attributes being watched (kernel paths). */
  watchBadblocks(paths: string[]): void {
    const next = [...new Set(paths)].sort();
    if (next.join('\n') === this.watched.join('\n')) return;
    this.watched = next;
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    if (this.wakeW !== undefined) {
      try {
        fs.writeSync(this.wakeW, 'x');
      } catch {
        // pipe full: a wake-up is already pending
      }
    }
  }

  private async loop(): Promise<void> {
    while (this.running && !this.stopped) {
      const files: Array<{path: string; fd: number}> = [];
      for (const p of this.watched) {
        try {
          const fd = fs.openSync(this.hostPath(p), 'r');
          // Reading arms sysfs_notify: poll reports POLLPRI once the content changes after this.
          fs.readSync(fd, Buffer.alloc(4096), 0, 4096, 0);
          files.push({path: p, fd});
        } catch (e) {
          this.h.error(e);
        }
      }
      let rev: number[] = [];
      try {
        rev = await this.native.pollFds(
          [this.ueventFd!, this.wakeR!, ...files.map((f) => f.fd)],
          [POLLIN, POLLIN, ...files.map(() => POLLPRI | POLLERR)],
        );
      } catch (e) {
        this.h.error(e);
      }
      for (const f of files) fs.closeSync(f.fd);
      if (rev.length === 0) continue;
      if (rev[1] & POLLIN) this.drain(this.wakeR!);
      if (rev[0] & POLLIN) {
        const evs = this.drainUevents();
        if (evs.length) this.h.uevents(evs);
      }
      const changed = files.filter((_, i) => rev[i + 2] & (POLLPRI | POLLERR)).map((f) => f.path);
      if (changed.length) this.h.badblocks(changed);
    }
  }

  private drain(fd: number): void {
    const b = Buffer.alloc(256);
    try {
      while (fs.readSync(fd, b, 0, b.length, null) > 0);
    } catch {
      // EAGAIN: empty
    }
  }

  private drainUevents(): Uevent[] {
    const out: Uevent[] = [];
    const b = Buffer.alloc(16384);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.ueventFd!, b, 0, b.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') this.h.error(e);
        break;
      }
      if (n <= 0) break;
      const ev = parseUevent(b.subarray(0, n));
      if (ev && ev.subsystem && this.subsystems.includes(ev.subsystem)) out.push(ev);
    }
    return out;
  }
}

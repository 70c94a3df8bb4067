// Address Range Scrub on one physical range: ARS_CAP → ARS_START → ARS_STATUS until done,
// with every way the kernel and firmware say "not yet" handled here, in TypeScript:
//
//  - ARS_START fails with EBUSY: the kernel's own scrub of the bus is running (the nfit driver
//    refuses user starts while its scrub work is queued). We wait for the bus's nfit/scrub
//    attribute to drop its "+", sleeping in poll(2) for POLLPRI (the attribute is
//    sysfs_notify'd when the kernel scrub completes), with a bounded timeout per poll so a lost
//    notification costs at most one poll period. Reading the attribute as root also makes the
//    kernel poll its firmware at the fast rate (ARS_POLL), so waiting this way shortens the wait.
//  - ARS_START status 6: the firmware is still busy with an earlier scrub: back off, retry.
//  - ARS_STATUS extended status 1: in progress: back off, poll again.
//  - extended status 2: no ARS this boot (our start did not take): start again, bounded.
//  - extended status 3 / overflow flag: interrupted: keep the records, then continue from
//    restart_address/restart_length.
//  - short returns: out_length below the header means no usable status: poll again; fewer
//    records than num_records means the rest did not fit: continue after the last record.
//  - a status describing a range that does not cover ours belongs to someone else's scrub.
//
// The ioctls return firmware status in the struct; the ioctl itself fails only for the
// kernel's reasons (EBUSY, EPERM, ENOTTY, EINVAL, ENXIO).
//
// One file over 300 lines: most of it the cases above, each handled next to the wait it changes.

import * as fs from 'node:fs';
import {errnoName, KernelError} from '../errors';
import type {Range} from '../model/types';
import {ARS_F_OVERFLOW, ARS_STATUS_HEADER, ArsCapResult, ArsStatusResult, NativeBinding} from '../native';
import {NdBusHandle} from '../ndctl';
import {end, normalize, intersect} from '../util/ranges';

export const ARS_EXT_IN_PROGRESS = 1;
export const ARS_EXT_NONE_THIS_BOOT = 2;
export const ARS_EXT_INTERRUPTED = 3;
export const ARS_START_BUSY = 6;
export const ARS_CAP_NOT_SUPPORTED = 1;

export type ScrubPhase = 'kernel-scrub-wait' | 'ars-start' | 'ars-wait' | 'clear' | 'verify';

export interface ScrubProgress {
  phase: ScrubPhase;
  device: string;
  /** ms since the operation began. */
  elapsedMs: number;
  message: string;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Something that can tell whether the kernel's own scrub runs, and wait for it to finish. */
export interface KernelScrub {
  /** Resolves when the kernel scrub is not running (or at the deadline: false). */
  waitIdle(deadline: number, onWait?: (count: number) => void): Promise<boolean>;
}

/** The bus's nfit/scrub attribute: "N" idle, "N+" while the kernel scrubs. */
export class ScrubAttr implements KernelScrub {
  constructor(
    private readonly native: NativeBinding,
    /** Host path of ndbusN/nfit/scrub. */
    readonly hostPath: string,
    private readonly clock: Clock = realClock,
    /** Upper bound of one poll(2); a missed notification costs at most this. */
    readonly pollMs = 1000,
  ) {}

  async waitIdle(deadline: number, onWait?: (count: number) => void): Promise<boolean> {
    let fd: number;
    try {
      fd = fs.openSync(this.hostPath, fs.constants.O_RDONLY);
    } catch {
      // No attribute: nothing to wait on; let the caller's retry loop carry on.
      await this.clock.sleep(Math.min(this.pollMs, Math.max(0, deadline - this.clock.now())));
      return this.clock.now() < deadline;
    }
    try {
      const buf = Buffer.alloc(64);
      for (;;) {
        // A read arms the sysfs notification; the poll then sleeps until the kernel's
        // sysfs_notify or the bounded timeout.
        const n = fs.readSync(fd, buf, 0, buf.length, 0);
        const m = /^(\d+)(\+?)/.exec(buf.subarray(0, n).toString('utf8').trim());
        if (!m || m[2] !== '+') return true;
        onWait?.(Number(m[1]));
        const left = deadline - this.clock.now();
        if (left <= 0) return false;
        await this.native.pollPri(fd, Math.max(1, Math.min(this.pollMs, Math.ceil(left))));
        // Through the clock, so a cancelled scrub (daxramd stopping) ends here too.
        await this.clock.sleep(0);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

export interface ArsOptions {
  device: string;
  /** ND_ARS_PERSISTENT or ND_ARS_VOLATILE. */
  type: number;
  clock?: Clock;
  /** Absolute deadline on the clock. */
  deadline: number;
  kernelScrub?: KernelScrub;
  onProgress?: (p: ScrubProgress) => void;
  /** Clock reading the whole operation started at (for progress). */
  startedAt?: number;
  /** Bounds for retry loops that could otherwise spin on broken firmware. */
  maxRestarts?: number;
  maxShortReturns?: number;
}

/** What one scrub found and what it took. */
export interface ArsScan {
  /** Poison records reported by the firmware, clipped to the scrubbed range, merged. */
  records: Range[];
  /** Raw record count over all passes. */
  recordCount: number;
  /** ARS_START ioctls issued that the firmware accepted. */
  starts: number;
  /** ARS_STATUS ioctls issued. */
  polls: number;
  /** Times ARS_START got EBUSY because the kernel's scrub was running, and total ms waited. */
  kernelScrubBusy: number;
  kernelScrubWaitMs: number;
  /** ARS_START firmware status 6 (busy) retries. */
  firmwareBusy: number;
  /** Passes continued from restart_address after an interrupted/overflowed scrub. */
  interrupted: number;
  overflows: number;
  /** Truncated records (continued after the last whole record) and unusable headers. */
  shortReturns: number;
  /** Extended status 2 or a status for a foreign range: restarted. */
  restarts: number;
  durationMs: number;
}

const backoff = (attempt: number, capMs: number) => Math.min(capMs, 25 * 2 ** attempt);

/** ARS_CAP for the range; classify whether a scrub of `type` is possible. */
export async function arsCapability(
  bus: NdBusHandle,
  range: Range,
  type: number,
): Promise<{supported: true; cap: ArsCapResult} | {supported: false; reason: string; cap?: ArsCapResult}> {
  let cap: ArsCapResult;
  try {
    cap = await bus.arsCap(range.start, range.size);
  } catch (e) {
    const code = errnoName(e);
    if (code === 'ENOTTY' || code === 'EOPNOTSUPP' || code === 'ENXIO') {
      return {supported: false, reason: `ARS_CAP on ${bus.dev} is not implemented (${code})`};
    }
    throw e;
  }
  if (cap.status === ARS_CAP_NOT_SUPPORTED) {
    return {supported: false, reason: `firmware says ARS is not supported for this range (ARS_CAP status 1)`, cap};
  }
  if (cap.status !== 0) {
    throw new KernelError(`ARS_CAP for ${bus.device ?? bus.dev} returned firmware status ${cap.status}`, {
      device: bus.device ?? bus.dev,
      path: bus.dev,
      fix: 'status 2 means the range is not a persistent-memory SPA range the firmware knows; check the device range',
    });
  }
  if ((cap.extendedStatus & type) === 0) {
    const kind = type === 2 ? 'persistent' : 'volatile';
    return {supported: false, reason: `firmware does not scrub ${kind} memory (ARS_CAP types 0x${cap.extendedStatus.toString(16)})`, cap};
  }
  if (cap.maxArsOut < ARS_STATUS_HEADER) {
    throw new KernelError(`ARS_CAP for ${bus.device ?? bus.dev}: max_ars_out ${cap.maxArsOut} is smaller than the status header`, {
      device: bus.device ?? bus.dev,
      path: bus.dev,
    });
  }
  return {supported: true, cap};
}

/** One scrub in progress: what every step needs, and the counters they add to. */
interface ArsRun {
  bus: NdBusHandle;
  cap: ArsCapResult;
  opts: ArsOptions;
  clock: Clock;
  scan: ArsScan;
  maxShort: number;
  maxRestarts: number;
  progress(phase: ScrubPhase, message: string): void;
  timedOut(what: string): KernelError;
}

/** Run one complete scrub of `range`; the range must be inside the ARS_CAP range. */
export async function runArs(bus: NdBusHandle, cap: ArsCapResult, range: Range, opts: ArsOptions): Promise<ArsScan> {
  const clock = opts.clock ?? realClock;
  const t0 = clock.now();
  const startedAt = opts.startedAt ?? t0;
  const run: ArsRun = {
    bus, cap, opts, clock,
    scan: {records: [], recordCount: 0, starts: 0, polls: 0, kernelScrubBusy: 0, kernelScrubWaitMs: 0, firmwareBusy: 0, interrupted: 0, overflows: 0, shortReturns: 0, restarts: 0, durationMs: 0},
    maxRestarts: opts.maxRestarts ?? 8,
    maxShort: opts.maxShortReturns ?? 16,
    progress: (phase, message) => opts.onProgress?.({phase, device: opts.device, elapsedMs: Math.round(clock.now() - startedAt), message}),
    timedOut: (what) =>
      new KernelError(`scrub of ${opts.device} timed out ${what}`, {
        device: opts.device,
        path: bus.dev,
        code: 'ETIMEDOUT',
        fix: 'raise --timeout; a full-device scrub on real NVDIMMs can take minutes per terabyte',
      }),
  };
  const found: Range[] = [];
  const pending: Range[] = [range];
  let guard = 0;
  while (pending.length > 0) {
    const r = pending.shift()!;
    if (++guard > run.maxRestarts * 4 + 64) throw new KernelError(`scrub of ${opts.device} did not converge`, {device: opts.device, path: bus.dev});
    const scrubTime = await startArs(run, r);
    const status = await awaitArsStatus(run, r, scrubTime);
    // Superseded: another scrub's status, or none this boot. Scrub the range again.
    if (!status) pending.unshift(r);
    else pending.unshift(...takeRecords(run, r, status.st, status.short, found));
  }
  run.scan.records = normalize(found);
  run.scan.durationMs = clock.now() - t0;
  return run.scan;
}

/** ARS_START for `r`, waiting out the kernel's scrub and the firmware's busy state; returns the firmware's estimate (s). */
async function startArs(run: ArsRun, r: Range): Promise<number> {
  const {bus, opts, clock, scan} = run;
  let startAttempt = 0;
  for (;;) {
    if (clock.now() >= opts.deadline) throw run.timedOut('waiting to start');
    try {
      run.progress('ars-start', `ARS_START ${r.start.toString(16)}+${r.size.toString(16)}`);
      const st = await bus.arsStart(r.start, r.size, opts.type, 0);
      if (st.status === 0) {
        scan.starts++;
        return st.scrubTime;
      }
      if (st.status === ARS_START_BUSY) {
        scan.firmwareBusy++;
        await clock.sleep(backoff(startAttempt++, 1000));
        continue;
      }
      throw new KernelError(`ARS_START for ${opts.device} returned firmware status ${st.status}`, {
        device: opts.device,
        path: bus.dev,
        fix: 'the firmware rejected the range or the scrub type; check ARS_CAP for this range',
      });
    } catch (e) {
      if (errnoName(e) !== 'EBUSY') throw e;
      scan.kernelScrubBusy++;
      const w0 = clock.now();
      run.progress('kernel-scrub-wait', `the kernel is scrubbing ${bus.dev}; waiting for it to finish`);
      if (opts.kernelScrub) {
        const idle = await opts.kernelScrub.waitIdle(opts.deadline, (count) => run.progress('kernel-scrub-wait', `kernel scrub ${count + 1} still running`));
        if (!idle) throw run.timedOut("waiting for the kernel's own scrub");
        // The scrub work may still be queued for a moment after the "+" drops.
        if (scan.kernelScrubBusy > 1) await clock.sleep(backoff(Math.min(scan.kernelScrubBusy, 5), 500));
      } else {
        await clock.sleep(backoff(startAttempt++, 1000));
      }
      scan.kernelScrubWaitMs += clock.now() - w0;
    }
  }
}

/**
 * The completed status of the scrub of `r`: one early look (small ranges finish at once), then
 * sleep until the firmware's own estimate (scrub_time), then poll in steps growing to a cap.
 * Undefined when the status is not ours (superseded): the caller starts `r` again. `short`
 * counts the unusable headers seen, which takeRecords goes on counting.
 */
async function awaitArsStatus(run: ArsRun, r: Range, scrubTime: number): Promise<{st: ArsStatusResult; short: number} | undefined> {
  const {bus, opts, clock, scan} = run;
  const pollCap = scrubTime > 10 ? 5000 : 1000;
  const estimate = scrubTime * 1000;
  const startedScrub = clock.now();
  let attempt = 0;
  let late = 0;
  let short = 0;
  const nextDelay = (): number => {
    const elapsed = clock.now() - startedScrub;
    if (attempt++ === 0) return 20;
    if (elapsed < estimate) return Math.min(estimate - elapsed, 5000);
    return Math.min(pollCap, 50 * 2 ** late++);
  };
  for (;;) {
    if (clock.now() >= opts.deadline) throw run.timedOut('waiting for ARS_STATUS');
    let st: ArsStatusResult;
    try {
      scan.polls++;
      st = await bus.arsStatus(run.cap.maxArsOut);
    } catch (e) {
      // Some providers translate "in progress" into EBUSY on the ioctl itself.
      if (errnoName(e) === 'EBUSY') {
        await clock.sleep(nextDelay());
        continue;
      }
      throw e;
    }
    if (st.outLength < ARS_STATUS_HEADER || (st.unfilled > 0 && st.outLength === 0)) {
      if (++short > run.maxShort) throw new KernelError(`ARS_STATUS for ${opts.device} keeps returning short headers (${st.outLength} bytes)`, {device: opts.device, path: bus.dev});
      scan.shortReturns++;
      await clock.sleep(nextDelay());
      continue;
    }
    if (st.extendedStatus === ARS_EXT_IN_PROGRESS) {
      run.progress('ars-wait', `scrub in progress`);
      await clock.sleep(nextDelay());
      continue;
    }
    if (st.status !== 0) {
      throw new KernelError(`ARS_STATUS for ${opts.device} returned firmware status ${st.status}`, {device: opts.device, path: bus.dev});
    }
    const foreign = st.length > 0n && (st.address > r.start || st.address + st.length < end(r));
    if (st.extendedStatus === ARS_EXT_NONE_THIS_BOOT || foreign) {
      if (++scan.restarts > run.maxRestarts) {
        throw new KernelError(`scrub of ${opts.device} keeps being superseded (no ARS result for our range)`, {
          device: opts.device,
          path: bus.dev,
          fix: 'another agent is starting scrubs on this bus; stop it and retry',
        });
      }
      return undefined;
    }
    return {st, short};
  }
}

/** Adds the status's records (clipped to `r`) to `found`; returns what of `r` is still to scrub. */
function takeRecords(run: ArsRun, r: Range, st: ArsStatusResult, short: number, found: Range[]): Range[] {
  const {opts, scan} = run;
  for (const rec of st.records) {
    const c = intersect({start: rec.address, size: rec.length}, r);
    if (c) found.push(c);
  }
  scan.recordCount += st.records.length;
  const interrupted = st.extendedStatus === ARS_EXT_INTERRUPTED;
  const overflow = (st.flags & ARS_F_OVERFLOW) !== 0;
  if (interrupted || overflow) {
    if (interrupted) scan.interrupted++;
    if (overflow) scan.overflows++;
    const rest = intersect({start: st.restartAddress, size: st.restartLength}, r);
    return rest ? [rest] : [];
  }
  if (st.records.length >= st.numRecords) return [];
  // The rest of the records did not fit: scan again after the last whole record.
  scan.shortReturns++;
  const last = st.records.reduce((m, rec) => (rec.address + rec.length > m ? rec.address + rec.length : m), r.start);
  if (st.records.length > 0 && last < end(r)) return [{start: last, size: end(r) - last}];
  if (++short > run.maxShort) throw new KernelError(`ARS_STATUS for ${opts.device} cannot return its records`, {device: opts.device, path: run.bus.dev});
  return st.records.length === 0 ? [r] : [];
}

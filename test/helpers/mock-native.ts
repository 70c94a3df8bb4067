// A scripted stand-in for the native addon, for unit tests only. It behaves like an NFIT bus
// with ARS (modelled on what nfit_test and the ACPI spec do) and can be told to misbehave in
// each way the pipeline must handle: the kernel's own scrub running (EBUSY on ARS_START),
// firmware busy, in-progress polls, no ARS this boot, interrupted scrubs with overflow, short
// returns, partial clears, read-only fds (EPERM) and missing commands (ENOTTY).
//
//   const clock = new FakeClock();
//   const m = new MockNative({clock, poison: [{start: 0x1000n, size: 512n}]});
//   m.calls  // every call, in order: {fn, args}
//
// Time is virtual: sleep() and a pollPri() timeout advance the FakeClock, so tests never wait.

import * as fs from 'node:fs';
import {ABI_VERSION} from '../../daemon/native';
import type {Range} from '../../daemon/model/types';
import type {
  ArsCapResult,
  ArsRecord,
  ArsStartResult,
  ArsStatusResult,
  ClearErrorResult,
  NativeBinding,
  NdCallResult,
} from '../../daemon/native';
import type {Clock} from '../../daemon/scrub/ars';

export class FakeClock implements Clock {
  t = 1000;
  slept: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.t += ms;
    await Promise.resolve();
  }
}

const ERRNO: Record<string, number> = {EPERM: 1, EIO: 5, ENXIO: 6, EBUSY: 16, EINVAL: 22, ENOTTY: 25, EOPNOTSUPP: 95};

export function errnoError(code: string, syscall = 'ioctl'): Error {
  const e = new Error(`${syscall}: ${code}`) as Error & {code: string; errno: number; syscall: string};
  e.code = code;
  e.errno = ERRNO[code] ?? 0;
  e.syscall = syscall;
  return e;
}

export interface MockOptions {
  clock?: FakeClock;
  /** What the firmware knows is poisoned (it reports these in ARS records). */
  poison?: Range[];
  clearErrUnit?: number;
  /** Record slots in max_ars_out. */
  maxRecords?: number;
  /** ARS_CAP firmware status and supported-types mask (extended status). */
  capStatus?: number;
  capTypes?: number;
  /** Force an errno on a function (every call), e.g. {arsCap: 'ENOTTY'}. */
  fail?: Partial<Record<keyof NativeBinding, string>>;
  /** The kernel's scrub is running: ARS_START gets EBUSY until it finishes. */
  kernelScrub?: {attrPath: string; count: number; pollsUntilDone: number};
  /** ARS_START returns firmware status 6 (busy) this many times first. */
  startBusy?: number;
  /** ARS_STATUS says "in progress" this many times after each start. */
  inProgressPolls?: number;
  /** The first status after a start says "no ARS this boot" this many times (across starts). */
  noArs?: number;
  /** The first completed scan is interrupted at this address (overflow flag set, restart info given). */
  interruptAt?: bigint;
  /** Header-short returns (out_length 8) this many times. */
  shortHeaders?: number;
  /** The first completed scan returns only this many records of its num_records. */
  truncateTo?: number;
  /** CLEAR_ERROR clears at most this many bytes per call (partial clears); 0 = clears nothing. */
  clearLimit?: bigint;
  /** Region badblocks file to keep in step with clears, as the kernel does. */
  badblocks?: {path: string; regionStart: bigint};
}

export class MockNative implements NativeBinding {
  abiVersion = ABI_VERSION;
  calls: Array<{fn: string; args: unknown[]}> = [];
  clock: FakeClock;
  poison: Range[];
  private o: MockOptions;
  private started?: {address: bigint; length: bigint; pollsLeft: number};
  private startBusy: number;
  private noArs: number;
  private shortHeaders: number;
  private interruptAt?: bigint;
  private truncateTo?: number;
  private kernelPolls = 0;
  kernelScrubRunning: boolean;

  constructor(o: MockOptions = {}) {
    this.o = o;
    this.clock = o.clock ?? new FakeClock();
    this.poison = (o.poison ?? []).map((r) => ({...r}));
    this.startBusy = o.startBusy ?? 0;
    this.noArs = o.noArs ?? 0;
    this.shortHeaders = o.shortHeaders ?? 0;
    this.interruptAt = o.interruptAt;
    this.truncateTo = o.truncateTo;
    this.kernelScrubRunning = o.kernelScrub !== undefined;
    if (o.kernelScrub) fs.writeFileSync(o.kernelScrub.attrPath, `${o.kernelScrub.count}+\n`);
  }

  get clearErrUnit(): number {
    return this.o.clearErrUnit ?? 256;
  }

  get maxArsOut(): number {
    return 48 + 24 * (this.o.maxRecords ?? 170);
  }

  callsOf(fn: string): unknown[][] {
    return this.calls.filter((c) => c.fn === fn).map((c) => c.args);
  }

  private enter(fn: keyof NativeBinding, args: unknown[], write = false): void {
    this.calls.push({fn, args});
    const forced = this.o.fail?.[fn];
    if (forced) throw errnoError(forced);
    // The kernel refuses commands that change state on an fd opened read-only.
    if (write && typeof args[0] === 'number' && accessMode(args[0]) === 0) throw errnoError('EPERM');
  }

  async arsCap(fd: number, address: bigint, length: bigint): Promise<ArsCapResult> {
    this.enter('arsCap', [fd, address, length]);
    return {
      address,
      length,
      status: this.o.capStatus ?? 0,
      extendedStatus: this.o.capTypes ?? 3,
      maxArsOut: this.maxArsOut,
      clearErrUnit: this.clearErrUnit,
      flags: 0,
      unfilled: 0,
    };
  }

  async arsStart(fd: number, address: bigint, length: bigint, type: number, flags: number): Promise<ArsStartResult> {
    this.enter('arsStart', [fd, address, length, type, flags], true);
    if (this.kernelScrubRunning) throw errnoError('EBUSY');
    if (this.startBusy > 0) {
      this.startBusy--;
      return {status: 6, extendedStatus: 0, scrubTime: 0, unfilled: 0};
    }
    this.started = {address, length, pollsLeft: this.o.inProgressPolls ?? 0};
    return {status: 0, extendedStatus: 0, scrubTime: 1, unfilled: 0};
  }

  async arsStatus(fd: number, outLength: number): Promise<ArsStatusResult> {
    this.enter('arsStatus', [fd, outLength]);
    const blank = {address: 0n, length: 0n, restartAddress: 0n, restartLength: 0n, type: 0, flags: 0, numRecords: 0, records: [], unfilled: 0};
    if (this.shortHeaders > 0) {
      this.shortHeaders--;
      return {...blank, status: 0, extendedStatus: 0, outLength: 8, unfilled: outLength - 8};
    }
    const s = this.started;
    if (!s || this.noArs > 0) {
      if (this.noArs > 0) this.noArs--;
      this.started = undefined;
      return {...blank, status: 0, extendedStatus: 2, outLength: 48};
    }
    if (s.pollsLeft > 0) {
      s.pollsLeft--;
      return {...blank, status: 0, extendedStatus: 1, outLength: 48};
    }
    const e = s.address + s.length;
    let records: ArsRecord[] = [];
    for (const p of this.poison) {
      const ps = p.start > s.address ? p.start : s.address;
      const pe = p.start + p.size < e ? p.start + p.size : e;
      if (pe > ps) records.push({handle: 0, flags: 0, address: ps, length: pe - ps});
    }
    records.sort((a, b) => (a.address < b.address ? -1 : 1));
    let ext = 0;
    let flags = 0;
    let restartAddress = 0n;
    let restartLength = 0n;
    if (this.interruptAt !== undefined && this.interruptAt > s.address && this.interruptAt < e) {
      const at = this.interruptAt;
      this.interruptAt = undefined;
      records = records.filter((r) => r.address < at).map((r) => (r.address + r.length > at ? {...r, length: at - r.address} : r));
      ext = 3;
      flags = 1;
      restartAddress = at;
      restartLength = e - at;
    }
    let numRecords = records.length;
    if (this.truncateTo !== undefined && records.length > this.truncateTo) {
      records = records.slice(0, this.truncateTo);
      this.truncateTo = undefined;
    } else {
      numRecords = records.length;
    }
    const out = 48 + 24 * records.length;
    return {
      status: 0,
      extendedStatus: ext,
      outLength: out,
      address: s.address,
      length: s.length,
      restartAddress,
      restartLength,
      type: 2,
      flags,
      numRecords,
      records,
      unfilled: outLength - out,
    };
  }

  async clearError(fd: number, address: bigint, length: bigint): Promise<ClearErrorResult> {
    this.enter('clearError', [fd, address, length], true);
    const unit = BigInt(this.clearErrUnit);
    if (address % unit !== 0n || length % unit !== 0n) throw errnoError('EINVAL');
    let cleared = length;
    if (this.o.clearLimit !== undefined && this.o.clearLimit < cleared) cleared = this.o.clearLimit;
    this.forget(address, cleared);
    return {status: 0, extendedStatus: 0, cleared, unfilled: 0};
  }

  async ndCall(fd: number, family: number | bigint, command: number | bigint, input: Buffer, outLength: number): Promise<NdCallResult> {
    this.enter('ndCall', [fd, family, command, input, outLength], true);
    if (Number(command) === 7 && input.length >= 16) {
      this.poison.push({start: input.readBigUInt64LE(0), size: input.readBigUInt64LE(8)});
    }
    return {output: Buffer.alloc(outLength), fwSize: outLength, unfilled: 0};
  }

  msrValue = 0n;
  async msrRead(fd: number, reg: bigint): Promise<bigint> {
    this.enter('msrRead', [fd, reg]);
    return this.msrValue;
  }

  async pollPri(fd: number, timeoutMs: number): Promise<number> {
    this.enter('pollPri', [fd, timeoutMs]);
    const k = this.o.kernelScrub;
    if (k && this.kernelScrubRunning && ++this.kernelPolls >= k.pollsUntilDone) {
      this.kernelScrubRunning = false;
      fs.writeFileSync(k.attrPath, `${k.count + 1}\n`);
      this.clock.t += 1;
      return 0x2 | 0x8; // POLLPRI | POLLERR, as sysfs_notify wakes pollers
    }
    this.clock.t += timeoutMs;
    return 0;
  }

  async zeroDax(fd: number, offset: bigint, length: bigint): Promise<bigint> {
    this.enter('zeroDax', [fd, offset, length], true);
    return length;
  }

  flock(fd: number, op: number): void {
    this.calls.push({fn: 'flock', args: [fd, op]});
  }

  /** Drop [address, address+length) from the firmware's list and whole sectors from badblocks. */
  private forget(address: bigint, length: bigint): void {
    const e = address + length;
    const next: Range[] = [];
    for (const p of this.poison) {
      const pe = p.start + p.size;
      if (pe <= address || p.start >= e) next.push(p);
      else {
        if (p.start < address) next.push({start: p.start, size: address - p.start});
        if (pe > e) next.push({start: e, size: pe - e});
      }
    }
    this.poison = next;
    const bb = this.o.badblocks;
    if (!bb) return;
    // Like the kernel: only whole sectors starting at the cleared address's sector.
    const first = (address - bb.regionStart) / 512n;
    const count = length / 512n;
    const keep: string[] = [];
    for (const line of fs.readFileSync(bb.path, 'utf8').split('\n')) {
      const m = /^(\d+)\s+(\d+)$/.exec(line.trim());
      if (!m) continue;
      const s = BigInt(m[1]);
      const c = BigInt(m[2]);
      for (let x = s; x < s + c; x++) if (x < first || x >= first + count) keep.push(`${x} 1`);
    }
    fs.writeFileSync(bb.path, keep.map((l) => l + '\n').join(''));
  }
}

/** O_ACCMODE of an fd of this process (0 = O_RDONLY), from /proc/self/fdinfo. */
export function accessMode(fd: number): number {
  try {
    const m = /flags:\s*([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? parseInt(m[1], 8) & 3 : 2;
  } catch {
    return 2;
  }
}

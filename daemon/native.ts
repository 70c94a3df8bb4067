// The native addon (native/addon.cc) and the TypeScript shape of it. The addon only does
// syscalls on file descriptors we opened; the real binding and the unit-test mock
// (test/helpers/mock-native.ts) both implement NativeBinding, so every decision above it is
// testable without a kernel.
//
// Every function resolves off the main thread. A failed syscall rejects with an Error carrying
// code ('EBUSY'), errno (positive) and syscall ('ioctl', 'pread', 'poll', 'mmap'); wrappers in
// daemon/ndctl.ts turn that into a KernelError naming the device.

import * as path from 'node:path';
import {DaxramError} from './errors';

/** Firmware status as the ND_CMD structs carry it: low 16 bits status, high 16 extended status. */
export interface FwStatus {
  status: number;
  extendedStatus: number;
  /** Bytes of the output the kernel left unfilled (the ioctl's positive return); 0 normally. */
  unfilled: number;
}

export interface ArsCapResult extends FwStatus {
  address: bigint;
  length: bigint;
  /** Size of the ARS_STATUS output buffer the firmware needs, header included. */
  maxArsOut: number;
  /** Granularity of CLEAR_ERROR, bytes. */
  clearErrUnit: number;
  flags: number;
}

export interface ArsStartResult extends FwStatus {
  /** Firmware's estimate of the scrub time, seconds. */
  scrubTime: number;
}

export interface ArsRecord {
  handle: number;
  flags: number;
  address: bigint;
  length: bigint;
}

export interface ArsStatusResult extends FwStatus {
  /** out_length as the firmware set it (header 48 bytes + 24 per record when complete). */
  outLength: number;
  address: bigint;
  length: bigint;
  restartAddress: bigint;
  restartLength: bigint;
  type: number;
  flags: number;
  /** num_records as the firmware said; records may hold fewer when the return was short. */
  numRecords: number;
  records: ArsRecord[];
}

export interface ClearErrorResult extends FwStatus {
  cleared: bigint;
}

export interface NdCallResult {
  output: Buffer;
  /** nd_fw_size: how much the firmware wanted to return. */
  fwSize: number;
  unfilled: number;
}

export interface NativeBinding {
  abiVersion: number;
  arsCap(fd: number, address: bigint, length: bigint): Promise<ArsCapResult>;
  arsStart(fd: number, address: bigint, length: bigint, type: number, flags: number): Promise<ArsStartResult>;
  /** outLength: ARS_CAP's maxArsOut (the whole buffer, header included). */
  arsStatus(fd: number, outLength: number): Promise<ArsStatusResult>;
  clearError(fd: number, address: bigint, length: bigint): Promise<ClearErrorResult>;
  /** ND_IOCTL_CALL with an nd_cmd_pkg: input is the payload, outLength the output bytes wanted. */
  ndCall(fd: number, family: number | bigint, command: number | bigint, input: Buffer, outLength: number): Promise<NdCallResult>;
  /** 8-byte positioned read of an MSR from /dev/cpu/N/msr. */
  msrRead(fd: number, reg: bigint): Promise<bigint>;
  /** poll(2) for POLLPRI|POLLERR (sysfs_notify) on an attribute fd read at least once; revents, 0 on timeout. */
  pollPri(fd: number, timeoutMs: number): Promise<number>;
  /**
   * Zero [offset, offset+length) of a device-dax character device opened O_RDWR: mmap MAP_SHARED,
   * non-temporal stores, sfence. offset/length must be multiples of the device's align.
   * Resolves with the bytes written; call in chunks to report progress.
   */
  zeroDax(fd: number, offset: bigint, length: bigint): Promise<bigint>;
  /** native/flock.cc: flock(2), non-blocking only (op must include LOCK_NB=4, or be LOCK_UN=8). */
  flock(fd: number, op: number): void;
}

/** The daemon's syscalls (native/notify.cc), loaded from the same addon: loadNative() as DaemonNative. */
export interface DaemonNative {
  /** One sd_notify datagram to $NOTIFY_SOCKET (a path or @abstract name). */
  sdNotify(socketPath: string, message: string): void;
  /** Credentials of a connected AF_UNIX socket's peer (SO_PEERCRED), recorded at connect time. */
  peerCred(fd: number): {pid: number; uid: number; gid: number};
  /** non-blocking NETLINK_KOBJECT_UEVENT socket on the kernel group; read it with read(2). */
  ueventOpen(): number;
  /**
   * Watch an fd on the event loop (uv_poll): events UV_READABLE (1) and/or UV_PRIORITIZED (8,
   * POLLPRI: a sysfs attribute was notified). The callback runs on the main thread for as long
   * as the fd stays ready; close() stops it.
   */
  FdWatcher: new (fd: number, events: number, callback: (err: Error | null, revents: number) => void) => {close(): void};
  /** malloc_trim(0): free pages glibc kept in its arenas go back to the kernel; true when some did. */
  mallocTrim(): boolean;
}

export const UV_READABLE = 1;
export const UV_PRIORITIZED = 8;

/** ND_ARS_* and ACPI ARS constants (linux/ndctl.h, ACPI 6.x §9.20.7). */
export const ND_ARS_VOLATILE = 1;
export const ND_ARS_PERSISTENT = 2;
export const NVDIMM_BUS_FAMILY_NFIT = 0;
export const NFIT_CMD_ARS_INJECT_SET = 7;
export const NFIT_CMD_ARS_INJECT_CLEAR = 8;
export const ND_ARS_ERR_INJ_OPT_NOTIFY = 0;
export const ARS_STATUS_HEADER = 48;
export const ARS_RECORD_SIZE = 24;
/** ARS_STATUS flags bit 0: the firmware ran out of room for records. */
export const ARS_F_OVERFLOW = 1;

/** native/syscall_error.h kAbiVersion: the shape of the functions this file declares. */
export const ABI_VERSION = 5;

let cached: NativeBinding | undefined;

/**
 * Where the built addon lives: beside this code in the package (/usr/lib/daxram), or the
 * checkout's build/Release seen from dist/daemon or dist/bundle (both two levels down).
 */
export function addonPath(): string {
  const fs = require('node:fs') as typeof import('node:fs');
  const candidates = [
    path.join(__dirname, 'daxram_native.node'),
    path.resolve(__dirname, '..', '..', 'build', 'Release', 'daxram_native.node'),
  ];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[candidates.length - 1];
}

/** The real addon, loaded once. Throws a DaxramError with the fix when it was not built. */
export function loadNative(): NativeBinding {
  if (cached) return cached;
  const file = addonPath();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    cached = require(file) as NativeBinding;
  } catch (e) {
    throw new DaxramError(`cannot load the native addon ${file}: ${(e as Error).message}`, {
      path: file,
      fix: 'build it with `npx node-gyp rebuild` (needs the node headers and a C++ compiler)',
      cause: e,
    });
  }
  if (cached.abiVersion !== ABI_VERSION) {
    const stale = cached;
    cached = undefined;
    throw new DaxramError(`native addon ${file} has ABI ${stale.abiVersion}, this daxram needs ${ABI_VERSION}`, {
      path: file,
      fix: 'rebuild it: npm run build (node-gyp rebuild)',
    });
  }
  return cached;
}

// A physical page's flags as the kernel keeps them (/proc/kpageflags, 8 bytes per page frame,
// root only): whether memory_failure already took it (KPF_HWPOISON).

import * as fs from 'node:fs';
import type {Sysfs} from '../sysfs';
import {PAGE} from '../util/ranges';

const KPF_HWPOISON = 19n;

/** The flags of the page at `phys`, when /proc/kpageflags is readable; undefined otherwise. */
export function kpageflags(sysfs: Sysfs, phys: bigint): bigint | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(sysfs.p('/proc/kpageflags'), 'r');
    const b = Buffer.alloc(8);
    const n = fs.readSync(fd, b, 0, 8, Number((phys / PAGE) * 8n));
    return n === 8 ? b.readBigUInt64LE(0) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether the kernel has taken the page at `phys` as hardware-poisoned (false when the flags cannot be read). */
export function isHwpoisoned(sysfs: Sysfs, phys: bigint): boolean {
  const f = kpageflags(sysfs, phys);
  return f !== undefined && (f & (1n << KPF_HWPOISON)) !== 0n;
}

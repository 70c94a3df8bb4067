// Hardware-poisoned pages: which pages a range covers, whether the kernel has already taken one
// (KPF_HWPOISON), and taking them (hard_offline_page). Below the plan runner, which executes
// an isolate step with these.

import * as fs from 'node:fs';
import {errnoName, KernelError} from '../errors';
import {PAGE, pagesOf} from '../util/ranges';
import {MEMORY_DIR} from '../model/hotplug';
import type {Context} from './context';
import type {IsolateStep} from './plan';

export {PAGE, pagesOf};

/** KPF_HWPOISON (bit 19) of a page, when /proc/kpageflags is readable; false otherwise. */
export function isHwpoisoned(ctx: Context, phys: bigint): boolean {
  const f = kpageflags(ctx, phys);
  return f !== undefined && (f & (1n << 19n)) !== 0n;
}

export function kpageflags(ctx: Context, phys: bigint): bigint | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(ctx.sysfs.p('/proc/kpageflags'), 'r');
    const b = Buffer.alloc(8);
    const n = fs.readSync(fd, b, 0, 8, Number((phys / PAGE) * 8n));
    return n === 8 ? b.readBigUInt64LE(0) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Run one isolate step: hard_offline_page for every page not yet hwpoisoned, yielding to the
 * event loop every few hundred pages so daxramd keeps answering. Returns pages newly poisoned.
 */
export async function runIsolate(ctx: Context, s: IsolateStep): Promise<number> {
  let fresh = 0;
  let n = 0;
  for (const p of pagesOf([s.range])) {
    if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
    if (isHwpoisoned(ctx, p)) continue;
    try {
      ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', 'hard_offline_page', `0x${p.toString(16)}`);
      fresh++;
    } catch (e) {
      // Poisoned meanwhile (by the kernel's own handling, or a racing run): the goal holds.
      if (errnoName(e) === 'EHWPOISON') continue;
      throw new KernelError(`hard_offline_page 0x${p.toString(16)} failed${errnoName(e) ? ` (${errnoName(e)})` : ''}`, {
        device: s.device,
        path: `${MEMORY_DIR}/hard_offline_page`,
        code: errnoName(e),
        fix: 'see dmesg for memory_failure; the page may belong to a kernel allocation that cannot be isolated',
        cause: e,
      });
    }
  }
  return fresh;
}


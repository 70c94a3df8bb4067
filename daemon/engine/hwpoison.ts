// Hardware-poisoned pages: which pages a range covers, and taking those the kernel has not taken
// yet (model/pageflags.ts reads KPF_HWPOISON): hard_offline_page (memory_failure: the content is lost, its
// users are signalled) or soft_offline_page (the content is migrated first, then the page is
// taken: for corrected errors, whose data is still good). Below the plan runner, which
// executes an isolate step with these.

import {errnoName, KernelError} from '../errors';
import {PAGE, pagesOf} from '../util/ranges';
import {MEMORY_DIR} from '../model/hotplug';
import {isHwpoisoned} from '../model/pageflags';
import type {Context} from './context';
import type {IsolateStep} from './plan';

export {PAGE, pagesOf};

/**
 * Run one isolate step: hard_ or soft_offline_page for every page not yet hwpoisoned, yielding to the
 * event loop every few hundred pages so daxramd keeps answering. Returns pages newly poisoned.
 */
export async function runIsolate(ctx: Context, s: IsolateStep, o: BusyRetry = {}): Promise<number> {
  let fresh = 0;
  let n = 0;
  for (const p of pagesOf([s.range])) {
    if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
    if (!isHwpoisoned(ctx.sysfs, p) && (await offlinePage(ctx, s.device, s.how, p, o))) fresh++;
  }
  return fresh;
}

export interface BusyRetry {
  busyRetries?: number;
  busyDelayMs?: number;
}

/** One page to memory_failure() or soft_offline_page(); false when the kernel had already taken it. */
async function offlinePage(ctx: Context, device: string, how: IsolateStep['how'], p: bigint, o: BusyRetry): Promise<boolean> {
  const attr = `${how}_offline_page`;
  const retries = o.busyRetries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', attr, `0x${p.toString(16)}`);
      return true;
    } catch (e) {
      const code = errnoName(e);
      // Poisoned meanwhile (by the kernel's own handling, or a racing run): the goal holds.
      if (code === 'EHWPOISON') return false;
      // memory_failure() says EBUSY while the page is in flux (being allocated, freed or
      // migrated; seen on 6.12 right after the kernel onlined a block) and takes it later.
      if (code === 'EBUSY' && attempt < retries) {
        ctx.log.warn(`${device}: page 0x${p.toString(16)} busy, ${attr} retry ${attempt + 1}/${retries}`);
        await new Promise((r) => setTimeout(r, (o.busyDelayMs ?? 250) * (attempt + 1)));
        continue;
      }
      throw new KernelError(`${attr} 0x${p.toString(16)} failed${code ? ` (${code})` : ''}`, {
        device,
        path: `${MEMORY_DIR}/${attr}`,
        code,
        fix: 'see dmesg for memory_failure; the page may belong to a kernel allocation that cannot be isolated',
        cause: e,
      });
    }
  }
}

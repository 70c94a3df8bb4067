// Clearing poison writes to the media (ND_IOCTL_CLEAR_ERROR, CXL Clear Poison) and discards the
// bytes cleared: it is a kernel write like any other, under the lock and in the journal. And it
// is only for capacity outside the page allocator: a device that is System RAM may have pages in
// use at those addresses, and its poison is isolated instead (daxramd does it as it appears;
// `daxram offline` then `daxram clear` returns the capacity clean).

import {PolicyError} from '../errors';
import {readDax} from '../model/dax';
import type {Context} from './context';
import {Journal, newJournalEntry} from './journal';

/** Refuses a device in the page allocator, naming what to do instead. */
export function refuseClearOfRam(ctx: Context, name: string): void {
  const dev = readDax(ctx.sysfs, name, {blockSize: 0n});
  if (dev.driver === 'kmem') {
    throw new PolicyError(`${name} is System RAM (bound to kmem): clearing poison there could discard the contents of pages in use`, {
      device: name,
      code: 'GATE_SYSTEM_RAM',
      fix: `daxramd isolates poison in RAM it manages (HardwareCorrupted in /proc/meminfo); to clear it, return the capacity first: daxram offline ${name}, then daxram clear ${name}`,
    });
  }
}

/**
 * Scrub-and-clear as one journalled step: an interruption leaves a record recover() drops (the
 * device is still devdax), never a clear nobody knows about. A dry run clears nothing.
 */
export async function journalledClear<T>(ctx: Context, name: string, clear: boolean, run: () => Promise<T>): Promise<T> {
  if (ctx.dryRun || !clear) return run();
  const journal = new Journal(ctx.stateDir);
  journal.write(newJournalEntry('clear', name, {}, 1));
  const r = await run();
  journal.clear();
  return r;
}

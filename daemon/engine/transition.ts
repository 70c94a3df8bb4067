// The one way a transition runs for real: take the lock shared by the CLI and daxramd, settle
// whatever an interrupted run left (finish another device's transition, supersede this one's),
// do the transition, release. Every mutating entry point of the engine goes through here, so
// none of them can forget a step of it.

import {DaxramError} from '../errors';
import type {Context} from './context';
import type {JournalEntry} from './journal';
import {acquire} from './lock';
import {settle} from './recover';

export async function transition<T>(ctx: Context, what: string, device: string | undefined, run: (superseded?: JournalEntry) => Promise<T>): Promise<T> {
  if (ctx.signal?.aborted) throw new DaxramError(`not starting ${what}: daxramd is stopping`, {device, code: 'ECANCELED'});
  const held = await acquire(ctx, what);
  try {
    const stale = ctx.stillWanted?.();
    if (stale) throw new DaxramError(`not starting ${what}: ${stale}`, {device, code: 'ECANCELED'});
    // device undefined: the transition is recovery itself, which reads the journals on its own.
    const superseded = device === undefined ? undefined : await settle(ctx, device);
    return await run(superseded);
  } finally {
    held.release();
  }
}

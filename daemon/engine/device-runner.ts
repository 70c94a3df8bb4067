// How a region transition runs its device steps ('engine' steps of its plan): a System RAM
// device goes back to devdax zeroed (its pages served the allocator; only an operator's
// release --no-zero skips it); a new RAM device is
// onlined through the gates like `daxram online`. One definition for every region verb.

import type {Context} from './context';
import type {RunOptions} from './exec';
import {doOnline, type OnlineResult} from './online';
import {doOffline} from './offline';
import type {ZoneRequest} from './zone';

export function deviceRunner(ctx: Context, zone?: ZoneRequest, onlined?: (r: OnlineResult) => void, zero = true): NonNullable<RunOptions['engine']> {
  return async (call, dev) => {
    if (call === 'offline') await doOffline(ctx, dev, {zero});
    else {
      const r = await doOnline(ctx, dev, {zone}, {enforce: true});
      onlined?.(r);
    }
  };
}

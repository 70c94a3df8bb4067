// The engine's API for the hot-add hold alone: what the boot guard needs and nothing else. It is
// a second entry beside index.ts (which re-exports it) so the guard's bundle, on the boot's
// critical path before udev's coldplug, loads none of the transitions, the scrub or the gates.

import type {Context} from './context';
import {Journal} from './journal';
import {locked} from './lock';
import {releaseHold, takeHold, type HotplugHold, type ReleaseOutcome} from './hotplug-policy';

export type {HotplugHold, ReleaseOutcome} from './hotplug-policy';

/**
 * Hold the kernel's hot-add policy for `by` (the boot guard, daxramd) until released: dax memory
 * kmem adds waits offline for daxram (engine/hotplug-policy.ts). An interrupted transition that
 * held it tells what the system's policy was.
 */
export async function holdHotplug(ctx: Context, by: string): Promise<HotplugHold | undefined> {
  return locked(ctx, `hold the hot-add policy for ${by}`, () => takeHold(ctx, by, new Journal(ctx.stateDir).read()));
}

/** Give the hot-add policy back: `by`'s own hold, or one whose holder is gone. */
export async function releaseHotplug(ctx: Context, by: string): Promise<ReleaseOutcome> {
  return locked(ctx, `give the hot-add policy back (${by})`, () => releaseHold(ctx, by));
}

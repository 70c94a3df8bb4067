// The engine Context for the hot-add hold (holdHotplug, releaseHotplug): sysfs, the lock, the
// journal directory and the addon's flock; nothing that checks or moves memory. Apart from
// hostContext (context.ts) so the boot guard's bundle loads neither the scrub pipeline nor the
// machine-check and module readers that hostContext wires in.

import type {Sysfs} from '../sysfs';
import type {Context, EngineNative, Logger} from '../engine';
import {makePolicy} from '../policy/settings';
import {loadNative} from '../native';
import {LOCK_PATH, STATE_DIR} from '../config/paths';

/** The addon, loaded on first use: a dry run or a fixture run needs no syscalls until it locks or zeroes. */
export function liveEngineNative(): EngineNative {
  return {
    flock: (fd, op) => loadNative().flock(fd, op),
    zeroDax: (fd, off, len) => loadNative().zeroDax(fd, off, len),
  };
}

/** The context of the hot-add hold, and the base hostContext (context.ts) adds the gates' sources to. */
export function holdContext(o: {sysfs: Sysfs; log: Logger; stateDir?: string; lockPath?: string; lockWaitMs?: number}): Context {
  return {
    sysfs: o.sysfs,
    native: liveEngineNative(),
    stateDir: o.stateDir ?? STATE_DIR,
    lockPath: o.lockPath ?? LOCK_PATH,
    lockWaitMs: o.lockWaitMs,
    dryRun: false,
    policy: makePolicy(),
    log: o.log,
  };
}

// The boot guard and its counterpart: `daxramd --hold-hotplug` (daxram-hotplug-guard.service,
// before udev's coldplug loads dax_hmem, dax_cxl and kmem) takes the kernel's hot-add policy so
// the memory they add stays offline until daxramd has checked it; `daxramd --release-hotplug`
// (the guard's stop, the package's removal, daxramd's final failure) gives it back when its
// holder is gone. Both run on the boot's critical path, so they are their own small bundle
// (launch.ts picks it for these two verbs): no argument library, no winston, none of the
// transitions. daxramd's main() hands these verbs here too.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {Sysfs} from '../sysfs';
import {describeError} from '../errors';
import {holdHotplug, releaseHotplug} from '../engine/hold';
import {readAutoOnline} from '../model/hotplug';
import {holdContext} from '../host/hold-context';
import {LineLog} from './log-line';
import {parseGuardArgs, type GuardArgs} from './guard-args';

/** What the guard logs with: LineLog here, daxramd's DaemonLog when daxramd's main() calls in. */
export interface GuardLog {
  error(msg: string): void;
  notice(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/**
 * Whether daxramd will run on this boot, as systemd will decide it: not masked (a link to
 * /dev/null in /etc or, by `systemctl mask --runtime`, in /run), and a dax bus to manage (its
 * ConditionPathIsDirectory). The guard takes the policy only then: a hold nobody gives back
 * would leave every hot-added DIMM offline.
 */
export function daxramdWillRun(root: string): {yes: boolean; why: string} {
  for (const dir of ['etc/systemd/system', 'run/systemd/system']) {
    const unit = path.join(root, dir, 'daxramd.service');
    try {
      if (fs.realpathSync(unit) === '/dev/null') return {yes: false, why: `daxramd.service is masked (/${dir})`};
    } catch {
      /* absent: not masked there */
    }
  }
  if (!fs.existsSync(path.join(root, 'sys/bus/dax'))) return {yes: false, why: 'there is no dax bus (/sys/bus/dax): daxramd will not start'};
  return {yes: true, why: ''};
}

/** Run the verb; the exit status (0 also when there was nothing to hold or give back). */
export async function runGuard(a: GuardArgs, log: GuardLog): Promise<number> {
  const sysfs = new Sysfs(a.root);
  const ctx = holdContext({sysfs, stateDir: a.stateDir, lockPath: a.lock, lockWaitMs: 30_000, log: {info: (m) => log.info(m), warn: (m) => log.warn(m)}});
  if (a.verb === '--hold-hotplug') {
    const will = daxramdWillRun(a.root);
    if (!will.yes) {
      log.notice(`${will.why}: leaving the kernel's hot-add policy alone`);
      return 0;
    }
    try {
      const hold = await holdHotplug(ctx, 'daxram-hotplug-guard');
      if (hold) log.notice(`auto_online_blocks held at offline (was "${hold.policy}"): dax memory waits for daxramd; daxramd onlines other hot-added memory as "${hold.policy}" says`);
      else log.info(`auto_online_blocks is "${readAutoOnline(sysfs)}": hot-added memory already waits offline; nothing to hold`);
      return 0;
    } catch (e) {
      log.error(`could not hold the hot-add policy: ${describeError(e)}`);
      return 1;
    }
  }
  // A live daxramd keeps its hold (it gives it back when it stops).
  try {
    const r = await releaseHotplug(ctx, 'daxram-hotplug-release');
    if (r.released) log.notice(`gave auto_online_blocks back its "${r.released.policy}" (held by ${r.released.by}, pid ${r.released.pid}, gone)${r.onlined.length ? `; onlined ${r.onlined.join(' ')}` : ''}`);
    else if (r.heldBy) log.notice(`${r.heldBy.by} (pid ${r.heldBy.pid}) holds the hot-add policy and gives it back when it stops`);
    else log.info('the hot-add policy is not held');
    return 0;
  } catch (e) {
    log.error(`could not give the hot-add policy back: ${describeError(e)}`);
    return 1;
  }
}

/** The guard's own entry (its bundle's main, as launch.ts calls it): exit 2 on a usage error. */
export async function main(argv: string[]): Promise<void> {
  let a: GuardArgs;
  try {
    a = parseGuardArgs(argv);
  } catch (e) {
    process.stderr.write(`daxramd: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  process.exitCode = await runGuard(a, new LineLog());
}

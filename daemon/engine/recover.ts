// Convergence after a crash. A transition killed at any step leaves its intent in the journal;
// every step is written as "make it so" (read before write), so finishing a transition is
// re-planning it from the kernel's current state with the journaled arguments. Online goes
// forward (and back to devdax if forward fails); offline always goes forward, since past the
// kmem unbind the only safe place is devdax; an isolation is simply run again.

import {listDax, readDax} from '../model/dax';
import type {Context} from './context';
import {Journal, LAYOUT_JOURNAL, type JournalEntry} from './journal';
import {doLayout} from './nvdimm-region';
import {convergeCxl} from './cxl-region';
import {convergeDaxReassign} from './dax-layout';
import {doOnline} from './online';
import {doOffline} from './offline';
import {doIsolate, parseRangeArg} from './isolate';
import type {ZoneRequest} from './zone';
import {giveBackHeldPolicy} from './hotplug-policy';
import {decisionOf} from './intent';

export interface RecoverResult {
  dryRun: boolean;
  /** The unfinished transition found, if any. */
  found?: JournalEntry;
  action: 'none' | 'abandoned-clear' | 'completed-online' | 'completed-offline' | 'completed-isolate' | 'completed-layout' | 'converged-cxl-region' | 'completed-dax-layout';
  /** An unfinished region layout (reassign/provision) that was finished after the device. */
  layout?: JournalEntry;
  /** Devices with no driver at all (not ours to guess about, but worth knowing). */
  unbound: string[];
  detail?: string;
}

/** Finish an unfinished transition. Callers hold the lock. */
export async function converge(ctx: Context, entry: JournalEntry): Promise<RecoverResult['action']> {
  const where = `pid ${entry.pid}, at or after step ${entry.step + 1}/${entry.total}${entry.at ? `: ${entry.at}` : ''}`;
  ctx.log.warn(`${entry.device}: finishing an interrupted ${entry.op} (${where})`);
  const a = entry.args;
  // Killed while holding the kernel's hot-add policy: give it back before anything else, so
  // the re-planned transition (and all other memory) sees the policy the system had.
  // A region provision goes forward holding it (binding the region makes kmem add the blocks):
  // convergeCxl gives it back when done.
  if (entry.op !== 'cxl-provision') giveBackHeldPolicy(ctx, entry);
  switch (entry.op) {
    case 'clear':
      // Clearing poison is idempotent and the device never left devdax: nothing to finish. Its
      // next online scrubs and clears again; what a clear left behind is in badblocks.
      return 'abandoned-clear';
    case 'reassign':
    case 'provision':
      await doLayout(ctx, 'reassign', entry.device, {ram: a.ram === undefined ? undefined : BigInt(a.ram), force: a.force, online: a.online, zone: a.zone as ZoneRequest | undefined, decision: decisionOf(entry)});
      return 'completed-layout';
    case 'cxl-provision':
    case 'cxl-release': {
      const what = await convergeCxl(ctx, entry);
      ctx.log.warn(`${entry.device}: ${what}`);
      new Journal(ctx.stateDir, LAYOUT_JOURNAL).clear();
      return 'converged-cxl-region';
    }
    case 'dax-reassign': {
      const what = await convergeDaxReassign(ctx, entry);
      ctx.log.warn(`${entry.device}: ${what}`);
      new Journal(ctx.stateDir, LAYOUT_JOURNAL).clear();
      return 'completed-dax-layout';
    }
    case 'online':
      await doOnline(ctx, entry.device, {zone: (a.zone as ZoneRequest) ?? 'movable', online: a.online !== false, decision: decisionOf(entry)}, {enforce: false});
      return 'completed-online';
    case 'isolate':
      await doIsolate(ctx, entry.device, (a.ranges ?? []).map(parseRangeArg), a.how === 'soft' ? 'soft' : 'hard');
      return 'completed-isolate';
    case 'offline':
      await doOffline(ctx, entry.device, {zero: a.zero !== false, decision: decisionOf(entry)});
      return 'completed-offline';
  }
}

/**
 * Before a mutating command on `device`: an unfinished transition of another device is finished
 * first; one of the same device is superseded by the new command (its plan, built from the
 * current state, converges the device anyway). Returns the superseded entry.
 */
export async function settle(ctx: Context, device: string): Promise<JournalEntry | undefined> {
  const entry = new Journal(ctx.stateDir).read();
  const layout = new Journal(ctx.stateDir, LAYOUT_JOURNAL).read();
  if (!entry) {
    if (layout) await converge(ctx, layout);
    return undefined;
  }
  // An interrupted isolation is never superseded: the pages must be taken whatever comes next.
  if (entry.device === device && entry.op !== 'isolate') {
    ctx.log.warn(`${device}: an interrupted ${entry.op} (pid ${entry.pid}) is superseded by this command`);
    return entry;
  }
  await converge(ctx, entry);
  if (layout) await converge(ctx, layout);
  return undefined;
}

/** Devices with no driver (daxctl disable-device, or a transition stopped between drivers). */
export function unboundDevices(ctx: Context): string[] {
  return listDax(ctx.sysfs).filter((d) => {
    try {
      const dev = readDax(ctx.sysfs, d, {blockSize: 0n});
      return dev.driver === undefined && dev.size > 0n;
    } catch {
      return false;
    }
  });
}

/** Finish whatever the journals hold. Callers hold the lock (see transition.ts). */
export async function doRecover(ctx: Context): Promise<RecoverResult> {
  const found = new Journal(ctx.stateDir).read();
  const layout = new Journal(ctx.stateDir, LAYOUT_JOURNAL).read();
  if (!found && !layout) return {dryRun: false, action: 'none', unbound: unboundDevices(ctx), detail: 'nothing to recover'};
  let action: RecoverResult['action'] = 'none';
  if (found) action = await converge(ctx, found);
  if (layout) action = await converge(ctx, layout);
  return {dryRun: false, found: found ?? layout, layout, action, unbound: unboundDevices(ctx)};
}

export function dryRecover(ctx: Context): RecoverResult {
  const found = new Journal(ctx.stateDir).read() ?? new Journal(ctx.stateDir, LAYOUT_JOURNAL).read();
  return {dryRun: true, found, action: 'none', unbound: unboundDevices(ctx), detail: found ? `would finish the interrupted ${found.op} of ${found.device}` : 'nothing to recover'};
}

// Convergence after a crash. A transition killed at any step leaves its intent in the journal;
// every step is written as "make it so" (read before write), so finishing a transition is
// re-planning it from the kernel's current state with the journaled arguments. Online goes
// forward (and back to devdax if forward fails); offline always goes forward, since past the
// kmem unbind the only safe place is devdax.

import type {Context} from './context';
import {Journal, LAYOUT_JOURNAL, type JournalEntry} from './journal';
import {doLayout} from './provision';
import {acquire} from './lock';
import {doOnline} from './online';
import {doOffline} from './offline';
import {DAX_DEVICES, readDax} from './device';
import type {ZoneRequest} from './device';

export interface RecoverResult {
  dryRun: boolean;
  /** The unfinished transition found, if any. */
  found?: JournalEntry;
  action: 'none' | 'completed-online' | 'completed-offline' | 'completed-layout';
  /** An unfinished region layout (reassign/provision) that was finished after the device. */
  layout?: JournalEntry;
  /** Devices with no driver at all (not ours to guess about, but worth knowing). */
  unbound: string[];
  detail?: string;
}

/** Finish an unfinished transition. Callers hold the lock. */
export async function converge(ctx: Context, intent: JournalEntry): Promise<RecoverResult['action']> {
  if (intent.op === 'reassign' || intent.op === 'provision') {
    ctx.log.warn(`${intent.device}: finishing an interrupted ${intent.op} (pid ${intent.pid}, at or after step ${intent.step + 1}/${intent.total})`);
    const a = intent.args;
    await doLayout(ctx, 'reassign', intent.device, {ram: a.ram === undefined ? undefined : BigInt(a.ram), force: a.force, online: a.online, zone: a.zone as ZoneRequest | undefined});
    return 'completed-layout';
  }
  ctx.log.warn(`${intent.device}: finishing an interrupted ${intent.op} (pid ${intent.pid}, at or after step ${intent.step + 1}/${intent.total}${intent.at ? `: ${intent.at}` : ''})`);
  if (intent.op === 'online') {
    await doOnline(ctx, intent.device, {zone: (intent.args.zone as ZoneRequest) ?? 'movable', online: intent.args.online !== false}, {enforce: false});
    return 'completed-online';
  }
  await doOffline(ctx, intent.device, {zero: intent.args.zero !== false});
  return 'completed-offline';
}

/**
 * Before a mutating command on `device`: an unfinished transition of another device is finished
 * first; one of the same device is superseded by the new command (its plan, built from the
 * current state, converges the device anyway). Returns the superseded intent.
 */
export async function settle(ctx: Context, device: string): Promise<JournalEntry | undefined> {
  const j = new Journal(ctx.stateDir);
  const intent = j.read();
  const layout = new Journal(ctx.stateDir, LAYOUT_JOURNAL).read();
  if (!intent) {
    if (layout) await converge(ctx, layout);
    return undefined;
  }
  if (intent.device === device) {
    ctx.log.warn(`${device}: an interrupted ${intent.op} (pid ${intent.pid}) is superseded by this command`);
    return intent;
  }
  await converge(ctx, intent);
  if (layout) await converge(ctx, layout);
  return undefined;
}

export async function recover(ctx: Context): Promise<RecoverResult> {
  const j = new Journal(ctx.stateDir);
  const unbound = () =>
    ctx.sysfs
      .list(DAX_DEVICES, /^dax[0-9]+\.[0-9]+$/)
      .filter((d) => {
        try {
          return readDax(ctx.sysfs, d).driver === undefined && readDax(ctx.sysfs, d).size > 0n;
        } catch {
          return false;
        }
      });
  const lj = new Journal(ctx.stateDir, LAYOUT_JOURNAL);
  if (ctx.dryRun) {
    const found = j.read() ?? lj.read();
    return {dryRun: true, found, action: 'none', unbound: unbound(), detail: found ? `would finish the interrupted ${found.op} of ${found.device}` : 'nothing to recover'};
  }
  const held = await acquire(ctx, 'recover');
  try {
    const found = j.read();
    const layout = lj.read();
    if (!found && !layout) return {dryRun: false, action: 'none', unbound: unbound(), detail: 'nothing to recover'};
    let action: RecoverResult['action'] = 'none';
    if (found) action = await converge(ctx, found);
    if (layout) action = await converge(ctx, layout);
    return {dryRun: false, found: found ?? layout, layout, action, unbound: unbound()};
  } finally {
    held.release();
  }
}

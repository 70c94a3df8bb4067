// The engine API the daemon and the CLI call. Each mutating entry point is a dry run (plan,
// nothing written) or a transition (transition.ts: lock → settle → do → release) around the
// operation's do* function, which journals its intent and verifies its result.

import {enforceGates} from '../policy/gates';
import type {Range} from '../util/ranges';
import type {Context} from './context';
import {transition} from './transition';
import type {IsolateHow} from './plan';
import {locked} from './lock';
import {journalledClear, refuseClearOfRam} from './clear';
import {doInterleave, type InterleaveOutcome} from './interleave';
import {doTiering, type TieringOutcome} from './tiering';
import {onlineOtherMemory, readHold} from './hotplug-policy';
import {doOnline, dryOnline, type OnlineOptions, type OnlineResult} from './online';
import {doOffline, dryOffline, type OfflineOptions, type OfflineResult} from './offline';
import {doIsolate, type IsolateResult} from './isolate';
import {doRecover, dryRecover, type RecoverResult} from './recover';
import {doLayout, layoutRegionOf, layoutResult, planLayout, preflightGates, type LayoutOptions, type LayoutResult} from './nvdimm-region';
import {doCxlProvision, doCxlRelease, dryCxlProvision, dryCxlRelease, type CxlProvisionOptions, type CxlRegionResult, type CxlReleaseOptions} from './cxl-region';
import {doDaxReassign, dryDaxReassign, type DaxLayoutOptions, type DaxLayoutResult} from './dax-layout';

export type {Context, EngineNative, Logger} from './context';
export type {Decision, IntentHook, OperatorAction} from './intent';
export {quietLog} from './context';
export {planOnline, refuseIfReserved, type OnlineOptions, type OnlineResult} from './online';
export {planOffline, type OfflineOptions, type OfflineResult} from './offline';
export {planIsolate, type IsolateResult} from './isolate';
export type {RecoverResult} from './recover';
export {describePlan, type IsolateHow, type Plan, type Step} from './plan';
export {Journal, type JournalEntry} from './journal';
export {readHold, type HotplugHold, type ReleaseOutcome} from './hotplug-policy';
export {holdHotplug, releaseHotplug} from './hold';
export {TIERING_RECORD, type TieringOutcome} from './tiering';
export {INTERLEAVE_RECORD, weightsFromBandwidth, type InterleaveOutcome} from './interleave';
export {isChecked} from './checked';
export {daxRegionLayout, hmemRegionAt, type LaidOut} from './dax-layout';
export type {ZoneRequest} from './zone';
export {planLayout, type LayoutOptions, type LayoutResult} from './nvdimm-region';
export {layoutRegion, describeLayout, type Layout} from './nvdimm-layout';
export {isMemdevList, parseMemdevList, designCxlRegion, type CxlDesign} from './cxl-design';
export {type CxlProvisionOptions, type CxlRegionResult, type CxlReleaseOptions} from './cxl-region';
export {layoutDaxRegion, type DaxLayoutOptions, type DaxLayoutResult} from './dax-layout';

/** dax device → System RAM through the gates (engine/online.ts). */
export async function online(ctx: Context, name: string, o: OnlineOptions = {}): Promise<OnlineResult> {
  if (ctx.dryRun) return dryOnline(ctx, name, o);
  return transition(ctx, `online ${name}`, name, () => doOnline(ctx, name, o, {enforce: true}));
}

/** System RAM → devdax, zeroed (engine/offline.ts). */
export async function offline(ctx: Context, name: string, o: OfflineOptions = {}): Promise<OfflineResult> {
  if (ctx.dryRun) return dryOffline(ctx, name, o);
  // An interrupted online of this device may have had blocks in use: zero on the way back.
  return transition(ctx, `offline ${name}`, name, (superseded) => doOffline(ctx, name, {...o, zero: o.zero ?? (superseded?.op === 'online' ? true : undefined)}));
}

/** Poison in a device that is System RAM: hard-offline exactly those pages (engine/isolate.ts). */
export async function isolate(ctx: Context, name: string, ranges: Range[], how: IsolateHow = 'hard'): Promise<IsolateResult> {
  if (ctx.dryRun) return doIsolate(ctx, name, ranges, how);
  return transition(ctx, `isolate (${how}) pages in ${name}`, name, () => doIsolate(ctx, name, ranges, how));
}

/** Finish whatever an interrupted command left (engine/recover.ts). */
export async function recover(ctx: Context): Promise<RecoverResult> {
  if (ctx.dryRun) return dryRecover(ctx);
  return transition(ctx, 'recover', undefined, () => doRecover(ctx));
}

/** Lay out an empty NVDIMM region (engine/nvdimm-region.ts). */
export async function provision(ctx: Context, region: string, o: LayoutOptions = {}): Promise<LayoutResult> {
  return layoutOp(ctx, 'provision', region, o);
}

/** Move an NVDIMM region's capacity between RAM and devdax (engine/nvdimm-region.ts). */
export async function reassign(ctx: Context, region: string, ram: bigint, o: LayoutOptions = {}): Promise<LayoutResult> {
  return layoutOp(ctx, 'reassign', region, {...o, ram});
}

async function layoutOp(ctx: Context, op: 'provision' | 'reassign', region: string, o: LayoutOptions): Promise<LayoutResult> {
  if (ctx.dryRun) {
    const {plan, layout, before} = planLayout(ctx, op, region, o);
    plan.gates = await preflightGates(ctx, region, layout, o);
    return layoutResult(ctx, region, plan, layout, before, true);
  }
  // A gate that does not depend on the new device's range refuses before anything is destroyed.
  const gates = enforceGates(region, await preflightGates(ctx, region, layoutRegionOf(ctx, region, o), o));
  return transition(ctx, `${op} ${region}`, '', () => doLayout(ctx, op, region, o, gates));
}

/** Make a CXL RAM region of memdevs and online it (engine/cxl-region.ts). */
export async function provisionCxl(ctx: Context, memdevs: string[], o: CxlProvisionOptions = {}): Promise<CxlRegionResult> {
  if (ctx.dryRun) return dryCxlProvision(ctx, memdevs, o);
  return transition(ctx, `provision ${memdevs.join(',')}`, '', () => doCxlProvision(ctx, memdevs, o));
}

/** Offline, zero and tear down a CXL RAM region: its memdevs' capacity is free again (engine/cxl-region.ts). */
export async function releaseCxl(ctx: Context, region: string, o: CxlReleaseOptions = {}): Promise<CxlRegionResult> {
  if (ctx.dryRun) return dryCxlRelease(ctx, region, o);
  return transition(ctx, `release ${region}`, '', () => doCxlRelease(ctx, region, o));
}

/** Split a dynamic dax region (hmem, CXL) between System RAM and devdax (engine/dax-layout.ts). */
export async function reassignDax(ctx: Context, region: string, ram: bigint, o: DaxLayoutOptions = {}): Promise<DaxLayoutResult> {
  if (ctx.dryRun) return dryDaxReassign(ctx, region, ram, o);
  return transition(ctx, `reassign ${region}`, '', () => doDaxReassign(ctx, region, ram, o));
}

/** While the policy is held: online, as the system's policy says, hot-added memory that is not dax. */
export async function onlineHotAdded(ctx: Context): Promise<string[]> {
  return locked(ctx, 'online hot-added memory', () => {
    const hold = readHold(ctx);
    return hold && !hold.lost ? onlineOtherMemory(ctx, hold) : [];
  });
}

/**
 * Scrub a device and clear its poison (`run` is the scrub pipeline, with its progress and
 * output): refused for a device that is System RAM (engine/clear.ts), journalled, under the lock.
 */
export async function clearPoison<T>(ctx: Context, name: string, run: () => Promise<T>): Promise<T> {
  if (ctx.dryRun) {
    refuseClearOfRam(ctx, name);
    return run();
  }
  return transition(ctx, `clear poison in ${name}`, name, async () => {
    refuseClearOfRam(ctx, name);
    return journalledClear(ctx, name, true, run);
  });
}

/**
 * `[daemon] tiering = on`: the kernel's demotion and promotion switches follow managed RAM
 * (engine/tiering.ts), written under the lock like every other kernel write.
 */
export async function setTiering(ctx: Context, enabled: boolean, ramOnline: boolean): Promise<TieringOutcome> {
  return locked(ctx, 'tiering switches', () => doTiering(ctx.sysfs, ctx.stateDir, enabled, ramOnline));
}

/**
 * [daemon] interleave-weights: the weighted-interleave weights follow the bandwidth of the nodes
 * with managed RAM online (engine/interleave.ts), written under the lock.
 */
export async function setInterleave(ctx: Context, enabled: boolean, nodes: number[]): Promise<InterleaveOutcome> {
  return locked(ctx, 'interleave weights', () => doInterleave(ctx.sysfs, ctx.stateDir, enabled, nodes));
}

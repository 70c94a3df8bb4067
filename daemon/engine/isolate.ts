// Poison inside memory that is System RAM: take exactly those pages away from the page allocator
// (memory_failure, through hard_offline_page). Never by offlining the block around them:
// offlining migrates pages, and migrating a page in use reads its poison. Online's isolate
// verdict and daxramd's reaction to new poison both go through here, with the same lock,
// journal and verification. A range is one plan step however many pages it covers (a 1 GiB
// badblocks range is 262,144 pages), run page by page off the event loop's critical path.

import {KernelError} from '../errors';
import {humanSize} from '../util/size';
import {intersect, normalize, type Range} from '../util/ranges';
import {kmemBlockIds, readDax} from '../model/dax';
import {readBlockSize} from '../model/hotplug';
import {readBlockState} from '../model/memblock';
import {readMeminfo} from '../model/node';
import type {Context} from './context';
import {newPlan, type IsolateHow, type IsolateStep, type Plan} from './plan';
import {Journal, newJournalEntry} from './journal';
import {runPlan, type StepLog} from './exec';
import {PAGE, pagesOf} from './hwpoison';
import {isHwpoisoned, kpageflags} from '../model/pageflags';

export interface IsolationPlan {
  plan: Plan;
  /** The poisoned parts of online blocks of the device, one isolate step each. */
  ranges: Range[];
  pages: number;
  /** Poisoned pages outside any online block of the device: not in the allocator, nothing to do. */
  notInRam: number;
}

export interface IsolateResult {
  device: string;
  how: IsolateHow;
  dryRun: boolean;
  plan: Plan;
  /** What was isolated, as 0xSTART+0xSIZE. */
  ranges: string[];
  pages: number;
  notInRam: number;
  hardwareCorrupted?: {before: bigint; after: bigint};
}

/** The isolate steps for `ranges` (already clipped to what is online): one per range. */
export function isolateSteps(device: string, ranges: Range[], how: IsolateHow = 'hard'): IsolateStep[] {
  return normalize(ranges).map((r) => {
    const n = pagesOf([r]).length;
    const why =
      how === 'hard'
        ? `hard-offline ${n} poisoned page(s) at 0x${r.start.toString(16)} (${humanSize(r.size)}): memory_failure takes them from the allocator for good`
        : `soft-offline ${n} page(s) at 0x${r.start.toString(16)} (${humanSize(r.size)}) with corrected errors: their content moves to another page, and they leave the allocator for good`;
    return {kind: 'isolate', device, range: r, how, pages: n, why};
  });
}

/** Plan isolating `ranges` of `device`: the parts inside its online blocks, page by page. */
export function planIsolate(ctx: Context, device: string, ranges: Range[], how: IsolateHow = 'hard'): IsolationPlan {
  const dev = readDax(ctx.sysfs, device);
  const bs = readBlockSize(ctx.sysfs);
  const online = kmemBlockIds(dev.ranges, bs)
    .filter((id) => readBlockState(ctx.sysfs, id) === 'online')
    .map((id) => ({start: BigInt(id) * bs, size: bs}));
  const inRam = normalize(normalize(ranges).flatMap((r) => online.map((b) => intersect(r, b)).filter((x): x is Range => x !== undefined)));
  const pages = pagesOf(inRam).length;
  const notInRam = pagesOf(ranges).length - pages;
  const plan = newPlan('isolate', device, `isolate (${how}) ${pages} page(s) in ${device} (System RAM on node ${dev.targetNode})`);
  plan.steps.push(...isolateSteps(device, inRam, how));
  if (notInRam) plan.notes.push(`${notInRam} poisoned page(s) are not in an online block of ${device}: not in the page allocator, nothing to isolate`);
  plan.steps.push({kind: 'verify', device, what: `${pages} page(s) hwpoisoned`});
  plan.expect = {pages};
  return {plan, ranges: inRam, pages, notInRam};
}

/**
 * Check isolated pages after the fact: per page where /proc/kpageflags is readable (root), and
 * in any case HardwareCorrupted growing by at least the pages this run poisoned.
 */
export function verifyIsolation(ctx: Context, device: string, ranges: Range[], before: bigint, fresh: number): {before: bigint; after: bigint} {
  const after = readMeminfo(ctx.sysfs).get('HardwareCorrupted') ?? 0n;
  const pages = pagesOf(ranges);
  const unverified = pages.filter((p) => kpageflags(ctx.sysfs, p) !== undefined && !isHwpoisoned(ctx.sysfs, p)).slice(0, 8);
  if (unverified.length || after < before + BigInt(fresh) * PAGE) {
    throw new KernelError(`offlining ${pages.length} page(s) not confirmed: HardwareCorrupted ${before} → ${after} bytes${unverified.length ? `; not hwpoisoned: ${unverified.map((p) => `0x${p.toString(16)}`).join(' ')}` : ''}`, {
      device,
      fix: 'see dmesg for memory_failure messages',
    });
  }
  return {before, after};
}

/** Pages a run's log shows as freshly hard-offlined (not already poisoned). */
export function freshlyIsolated(plan: Plan, log: StepLog[]): number {
  return log.reduce((n, l) => n + (plan.steps[l.step].kind === 'isolate' ? l.count ?? 0 : 0), 0);
}

/** The transition itself, under the lock (see transition.ts). Also the forward path of recover(). */
export async function doIsolate(ctx: Context, device: string, ranges: Range[], how: IsolateHow = 'hard'): Promise<IsolateResult> {
  const f = planIsolate(ctx, device, ranges, how);
  const result = (dryRun: boolean, hc?: {before: bigint; after: bigint}): IsolateResult => ({
    device,
    how,
    dryRun,
    plan: f.plan,
    ranges: f.ranges.map((r) => `0x${r.start.toString(16)}+0x${r.size.toString(16)}`),
    pages: f.pages,
    notInRam: f.notInRam,
    hardwareCorrupted: hc,
  });
  if (ctx.dryRun) return result(true);
  const journal = new Journal(ctx.stateDir);
  const entry = newJournalEntry('isolate', device, {ranges: normalize(ranges).map((r) => `0x${r.start.toString(16)}+0x${r.size.toString(16)}`), how}, f.plan.steps.length);
  const before = readMeminfo(ctx.sysfs).get('HardwareCorrupted') ?? 0n;
  const log = await runPlan(ctx, f.plan, {journal, intent: entry});
  const hc = verifyIsolation(ctx, device, f.ranges, before, freshlyIsolated(f.plan, log));
  journal.clear();
  return result(false, hc);
}

/** "0x1000+0x40" → Range (the journal's form). */
export function parseRangeArg(s: string): Range {
  const m = /^(0x[0-9a-f]+)\+(0x[0-9a-f]+)$/.exec(s);
  if (!m) throw new KernelError(`journal range "${s}" is not 0xSTART+0xSIZE`, {});
  return {start: BigInt(m[1]), size: BigInt(m[2])};
}

// Splitting a dynamic dax region (a soft-reserved hmem range, a CXL RAM region) between System
// RAM and devdax, the transition behind `daxram reassign hmem.N|regionN|dax_regionN --ram SIZE`.
// The dax bus allocates a device's capacity first-fit from the region start when its size
// grows, and only while no driver holds it; device 0 can be emptied but never deleted. So the
// layout is rebuilt, never edited: every System RAM device offlined and zeroed, every device
// unbound and emptied, devices other than 0 deleted; then device 0 takes the RAM part from the
// region start (ending on a memory block boundary, so kmem adds all of it), a new device takes
// the rest as devdax, and device 0 is onlined through the gates. Rebuilding is also how an
// interrupted run converges: the journal keeps the arguments, and re-planning from whatever
// state the kernel holds reaches the same layout.
//
// One file over 300 lines: the plan and the rebuild's steps of one transition, which recovery
// re-plans from whatever the kernel holds; the pure layout arithmetic is in nvdimm-layout.ts.

import * as path from 'node:path';
import {KernelError, NotFoundError, PolicyError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {alignDown, alignUp} from '../util/ranges';
import {optBig} from '../model/attr';
import {DAX_DEVICES, DAX_DRIVERS, daxDriver, kmemCapacity, readDax} from '../model/dax';
import {findDaxRegion, listHmem, readCreateSeed, readDaxRegion, type DaxRegion} from '../model/dax-region';
import {readBlockSize} from '../model/hotplug';
import {readIomem} from '../model/iomem';
import {reservationOf} from '../policy/gates';
import type {Context} from './context';
import {newPlan, sysfsStep, type Plan, type SysfsStep} from './plan';
import {Journal, LAYOUT_JOURNAL, newJournalEntry, type JournalEntry} from './journal';
import {confirmDecision, decisionArgs, decisionOf, recordDecision, type Decision} from './intent';
import {runPlan} from './exec';
import type {OnlineResult} from './online';
import {deviceRunner} from './device-runner';
import type {ZoneRequest} from './zone';

export interface DaxLayoutOptions {
  online?: boolean;
  zone?: ZoneRequest;
  /**
   * false: System RAM devices are offlined but not zeroed. Only for a region made in this
   * boot whose blocks were never online (daxramd laying out a region it just made).
   */
  zero?: boolean;
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export interface DaxLayout {
  start: bigint;
  /** Device 0: [start, start + ramSize) as System RAM (0: none). */
  ramSize: bigint;
  /** Bytes kmem adds of it (whole blocks). */
  ramBytes: bigint;
  /** The rest, one devdax device (0: none). */
  devdaxSize: bigint;
  notes: string[];
}

export interface DaxLayoutResult {
  region: string;
  daxRegion: number;
  /** The device the dax region hangs off (hmem.N, dax_regionN) and the region's size. */
  owner: string;
  size: bigint;
  dryRun: boolean;
  plan: Plan;
  layout: DaxLayout;
  /** kmem capacity before (bytes). */
  before: bigint;
  ramDevice?: string;
  devdaxDevice?: string;
  devices: {name: string; role: 'ram' | 'devdax'; size: bigint}[];
  online?: OnlineResult;
}

const yOf = (name: string) => Number(name.split('.')[1]);

/** A device's size now; 0 once it is gone. */
function devSize(ctx: Context, dr: DaxRegion, name: string): bigint {
  return optBig(ctx.sysfs, `${dr.ownerDir}/${name}/size`, name) ?? 0n;
}

/**
 * Where the region starts: a CXL region's resource; else the lowest range of its devices; else
 * the Soft Reserved range of its size.
 */
function regionStart(ctx: Context, dr: DaxRegion): bigint | undefined {
  const parent = path.posix.dirname(dr.ownerDir);
  if (/^region\d+$/.test(path.posix.basename(parent))) {
    const v = optBig(ctx.sysfs, `${parent}/resource`, dr.owner);
    if (v !== undefined) return v;
  }
  let low: bigint | undefined;
  for (const d of dr.devices) {
    for (const r of readDax(ctx.sysfs, d, {blockSize: 0n}).ranges) if (low === undefined || r.start < low) low = r.start;
  }
  if (low !== undefined && dr.available === 0n) return low;
  const e = readIomem(ctx.sysfs).find((x) => x.end - x.start + 1n === dr.size && /Soft Reserved|hmem/.test(x.name));
  return e?.start ?? low;
}

/** What a dynamic dax region holds now against the layout with `ram` bytes of System RAM. */
export interface LaidOut {
  /** The region's owner (hmem.N, dax_regionN) and size. */
  name: string;
  size: bigint;
  /** Its devices hold exactly that layout. */
  laidOut: boolean;
  /** "All of it as System RAM": its whole memory blocks, in bytes. */
  wholeRam: bigint;
  /** When laid out: the RAM device (device 0) and the devdax one. */
  ram?: string;
  devdax?: string;
}

/**
 * Whether the dynamic dax region `name` (hmem.N, dax_regionN) holds the layout with `ram` bytes
 * of System RAM (undefined: all of it in whole memory blocks).
 */
export function daxRegionLayout(ctx: Context, name: string, ram: bigint | undefined): LaidOut {
  return layoutOfRegion(ctx, findDaxRegion(ctx.sysfs, name), ram);
}

function layoutOfRegion(ctx: Context, dr: DaxRegion, ram: bigint | undefined): LaidOut {
  const start = regionStart(ctx, dr);
  const bs = readBlockSize(ctx.sysfs);
  const out: LaidOut = {name: dr.owner, size: dr.size, laidOut: false, wholeRam: start === undefined ? 0n : wholeBlocks(start, dr.size, bs)};
  if (start === undefined) return out;
  try {
    const m = matches(current(ctx, dr), layoutDaxRegion(start, dr.size, dr.align || 2n << 20n, bs, ram ?? out.wholeRam));
    if (m) return {...out, laidOut: true, ...m};
  } catch {
    /* a split that does not fit this region: not laid out (the caller compares the sizes) */
  }
  return out;
}

/**
 * The soft-reserved range (hmem.N) that starts at `start`, and whether its devices hold the
 * layout with `ram` bytes of System RAM: a reboot gives a split range back as one device, and
 * hmem.N numbers follow the order the ranges probe in, so the start is what names it.
 */
export function hmemRegionAt(ctx: Context, start: bigint, ram: bigint | undefined): LaidOut | undefined {
  for (const name of listHmem(ctx.sysfs)) {
    let dr: DaxRegion;
    try {
      dr = findDaxRegion(ctx.sysfs, name);
    } catch {
      continue; // an hmem device without a dax region (dax_hmem not bound yet)
    }
    if (regionStart(ctx, dr) === start) return layoutOfRegion(ctx, dr, ram);
  }
  return undefined;
}

/** All of a region as System RAM: the whole memory blocks in it. */
export function wholeBlocks(start: bigint, size: bigint, bs: bigint): bigint {
  const first = alignUp(start, bs);
  const end = alignDown(start + size, bs);
  return end > first ? end - first : 0n;
}

export function layoutDaxRegion(start: bigint, size: bigint, align: bigint, bs: bigint, ram: bigint): DaxLayout {
  const notes: string[] = [];
  const firstBlock = alignUp(start, bs);
  const maxRam = wholeBlocks(start, size, bs);
  if (ram === 0n) {
    notes.push(`all ${humanSize(size)} as one devdax device`);
    return {start, ramSize: 0n, ramBytes: 0n, devdaxSize: size, notes};
  }
  const want = alignUp(ram, bs);
  if (want > maxRam) {
    throw new UsageError(`--ram ${humanSize(ram)} does not fit: the region holds ${humanSize(maxRam)} of whole ${humanSize(bs)} memory blocks`, {
      fix: `ask for at most ${humanSize(maxRam)}`,
    });
  }
  const ramSize = firstBlock + want - start;
  if (ramSize % align !== 0n) throw new UsageError(`the region start 0x${start.toString(16)} is not ${humanSize(align)}-aligned`, {fix: 'this region cannot be split on block boundaries'});
  if (want !== ram) notes.push(`--ram ${humanSize(ram)} rounded up to whole memory blocks: ${humanSize(want)}`);
  if (firstBlock !== start) notes.push(`the region starts ${humanSize(firstBlock - start)} before a block boundary: that head is part of the RAM device but kmem cannot add it`);
  const devdaxSize = alignDown(size - ramSize, align);
  notes.push(`System RAM: 0x${start.toString(16)}-0x${(start + ramSize - 1n).toString(16)}, ${humanSize(want)} in ${want / bs} block(s)`);
  if (devdaxSize > 0n) notes.push(`devdax: the remaining ${humanSize(devdaxSize)}`);
  return {start, ramSize, ramBytes: want, devdaxSize, notes};
}

interface Current {
  name: string;
  size: bigint;
  start?: bigint;
  driver?: string;
}

function current(ctx: Context, dr: DaxRegion): Current[] {
  return dr.devices.map((name) => {
    const d = readDax(ctx.sysfs, name, {blockSize: 0n});
    return {name, size: d.size, start: d.ranges.length === 1 ? d.ranges[0].start : undefined, driver: d.driver};
  });
}

/** Device 0 holds the RAM part, one other device the devdax part, nothing else has capacity. */
function matches(cur: Current[], l: DaxLayout): {ram?: string; devdax?: string} | undefined {
  const sized = cur.filter((c) => c.size > 0n);
  const first = l.ramSize > 0n ? l.ramSize : l.devdaxSize;
  const d0 = sized.find((c) => yOf(c.name) === 0 && c.start === l.start && c.size === first);
  if (!d0) return undefined;
  const rest = sized.filter((c) => c !== d0);
  if (l.ramSize === 0n) return rest.length === 0 ? {devdax: d0.name} : undefined;
  if (l.devdaxSize === 0n) return rest.length === 0 ? {ram: d0.name} : undefined;
  const dd = rest.length === 1 && rest[0].size === l.devdaxSize && rest[0].start === l.start + l.ramSize ? rest[0] : undefined;
  return dd ? {ram: d0.name, devdax: dd.name} : undefined;
}

export function planDaxReassign(ctx: Context, name: string, ram: bigint, o: DaxLayoutOptions): {plan: Plan; layout: DaxLayout; dr: DaxRegion; before: bigint} {
  const dr = findDaxRegion(ctx.sysfs, name);
  if (!dr.dynamic) throw new UsageError(`${name}'s dax region ${dr.id} is static (an NVDIMM namespace)`, {device: name, fix: 'reassign the NVDIMM region instead (daxram reassign regionN)'});
  const bs = readBlockSize(ctx.sysfs);
  const start = regionStart(ctx, dr);
  if (start === undefined) throw new KernelError(`cannot tell where dax region ${dr.id} (${name}) starts: it has no device with capacity`, {device: name, fix: 'daxctl create-device -r ' + dr.id + ' gives it one; then run this again'});
  const layout = layoutDaxRegion(start, dr.size, dr.align || 2n << 20n, bs, ram);
  const cur = current(ctx, dr);
  const before = cur.filter((c) => c.driver === 'kmem').reduce((a, c) => a + kmemCapacity(c.start !== undefined ? [{start: c.start, size: c.size}] : [], bs).bytes, 0n);
  const plan = newPlan('reassign', name, `reassign ${name} (dax region ${dr.id}, ${humanSize(dr.size)}): ${humanSize(layout.ramBytes)} System RAM + ${humanSize(layout.devdaxSize)} devdax (kmem capacity now ${humanSize(before)})`);
  plan.notes.push(...layout.notes);
  const same = matches(cur, layout);
  const region = `dax region ${dr.id}`;
  const sizeStep = (dev: string, v: bigint, why: string, extra: Partial<SysfsStep> = {}, now: () => string = () => dev) =>
    sysfsStep(`${DAX_DEVICES}/${dev}`, dev, 'size', String(v), dev, why, {skip: () => (devSize(ctx, dr, now()) === v ? `${now()} is ${humanSize(v)}` : undefined), ...extra});
  const d0 = `dax${dr.id}.0`;
  let created = `dax${dr.id}.1`;
  if (same) {
    plan.notes.push(`${name} already has this layout: nothing to rebuild`);
    if (same.devdax) {
      const dd = same.devdax;
      if (cur.find((c) => c.name === dd)?.driver === 'kmem') plan.steps.push({kind: 'engine', call: 'offline', device: dd, why: `${dd} is System RAM but this layout keeps it devdax`});
      plan.steps.push(...bindDeviceDax(ctx, dd));
    }
  } else {
    for (const c of cur.filter((x) => x.size > 0n)) {
      const hit = reservationOf(ctx.policy, [name, c.name]);
      if (hit) throw new PolicyError(`reassign ${name} would destroy ${c.name}, which is reserved (${hit.by})`, {device: c.name, code: 'GATE_RESERVED', fix: hit.fix});
      plan.notes.push(`  rebuild: ${c.name} (${humanSize(c.size)}, ${c.driver === 'kmem' ? 'system-ram: offlined and zeroed first' : c.driver === 'device_dax' ? 'devdax: its contents are not kept' : 'no driver'})`);
    }
    for (const c of cur) if (c.driver === 'kmem') plan.steps.push({kind: 'engine', call: 'offline', device: c.name, why: `${c.name} is System RAM: offline${o.zero === false ? ' (made this boot, never online: not zeroed)' : ', zero'}, back to devdax before it is resized`});
    for (const c of cur) {
      if (c.driver === 'kmem' || c.driver === 'device_dax') {
        plan.steps.push(sysfsStep(`${DAX_DRIVERS}/device_dax`, 'device_dax', 'unbind', c.name, c.name, `release ${c.name} from device_dax: the bus resizes only devices no driver holds`, {
          skip: () => (daxDriver(ctx.sysfs, c.name) !== 'device_dax' ? `${c.name} is not bound to device_dax` : undefined),
          mark: 'destroy',
        }));
      }
    }
    // Empty every device (highest first), delete all but device 0 (the bus keeps it forever).
    for (const c of [...cur].sort((a, b) => yOf(b.name) - yOf(a.name))) {
      plan.steps.push(sizeStep(c.name, 0n, `empty ${c.name}: its capacity goes back to ${region}`));
      if (yOf(c.name) > 0) {
        plan.steps.push(sysfsStep(dr.attrDir, 'dax_region', 'delete', c.name, c.name, `delete ${c.name}`, {gone: {path: `${dr.ownerDir}/${c.name}`, why: `${c.name} is gone`}}));
      }
    }
    const first = layout.ramSize > 0n ? layout.ramSize : layout.devdaxSize;
    plan.steps.push(sizeStep(d0, first, `${d0} takes ${humanSize(first)} from the region start (first fit)`, {mark: 'resize'}));
    if (layout.ramSize > 0n && layout.devdaxSize > 0n) {
      plan.steps.push(
        sysfsStep(dr.attrDir, 'dax_region', 'create', '1', name, `create a new device in ${region} for the devdax part`, {mark: 'create'}),
        sizeStep(created, layout.devdaxSize, `the new device takes the remaining ${humanSize(layout.devdaxSize)}`, {
          resolve: () => {
            created = readCreateSeed(ctx.sysfs, dr) || created;
            return {objectDir: `${DAX_DEVICES}/${created}`, object: created};
          },
        }, () => created),
      );
      plan.steps.push(...bindDeviceDax(ctx, created, () => created));
    } else if (layout.ramSize === 0n) {
      plan.steps.push(...bindDeviceDax(ctx, d0));
    }
  }
  if (layout.ramSize > 0n && o.online !== false) {
    plan.steps.push({kind: 'engine', call: 'online', device: d0, why: 'online the RAM part through the gates, like daxram online'});
  }
  plan.expect = {ramBytes: layout.ramBytes, devdax: layout.devdaxSize};
  return {plan, layout, dr, before};
}

/** new_id then bind: a hmem/CXL device only matches kmem by type, device_dax by id. */
function bindDeviceDax(ctx: Context, dev: string, name: () => string = () => dev): SysfsStep[] {
  const dd = `${DAX_DRIVERS}/device_dax`;
  const bound = () => (daxDriver(ctx.sysfs, name()) === 'device_dax' ? `${name()} is bound to device_dax` : undefined);
  const at = () => ({objectDir: dd, object: 'device_dax', value: name()});
  return [
    sysfsStep(dd, 'device_dax', 'new_id', dev, dev, `let device_dax match ${dev}`, {resolve: at, skip: bound, tolerate: ['EEXIST', 'EBUSY', 'EINVAL', 'ENXIO', 'ENODEV']}),
    sysfsStep(dd, 'device_dax', 'bind', dev, dev, `bind device_dax: /dev/${dev} for applications`, {resolve: at, skip: bound}),
  ];
}

export function daxLayoutResult(ctx: Context, name: string, dr: DaxRegion, plan: Plan, layout: DaxLayout, before: bigint, dryRun: boolean, online?: OnlineResult): DaxLayoutResult {
  const now = readDaxRegion(ctx.sysfs, dr.ownerDir);
  const devices = now.devices
    .map((d) => ({name: d, size: devSize(ctx, now, d), role: (yOf(d) === 0 && layout.ramSize > 0n ? 'ram' : 'devdax') as 'ram' | 'devdax'}))
    .filter((d) => d.size > 0n);
  return {region: name, daxRegion: dr.id, owner: dr.owner, size: dr.size, dryRun, plan, layout, before, ramDevice: devices.find((d) => d.role === 'ram')?.name, devdaxDevice: devices.find((d) => d.role === 'devdax')?.name, devices, online};
}

export async function dryDaxReassign(ctx: Context, name: string, ram: bigint, o: DaxLayoutOptions): Promise<DaxLayoutResult> {
  const {plan, layout, dr, before} = planDaxReassign(ctx, name, ram, o);
  return daxLayoutResult(ctx, name, dr, plan, layout, before, true);
}

/** Under the lock. Also recovery's forward path. */
export async function doDaxReassign(ctx: Context, name: string, ram: bigint, o: DaxLayoutOptions): Promise<DaxLayoutResult> {
  const {plan, layout, dr, before} = planDaxReassign(ctx, name, ram, o);
  const subject = {kind: 'dax-split', owner: dr.owner, start: layout.start, size: dr.size, ram: layout.ramBytes} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = new Journal(ctx.stateDir, LAYOUT_JOURNAL);
  const intent = newJournalEntry('dax-reassign', name, {ram: ram.toString(), online: o.online !== false, zone: o.zone, ...decisionArgs(o.decision)}, plan.steps.length);
  let online: OnlineResult | undefined;
  try {
    await runPlan(ctx, plan, {
      journal,
      intent,
      engine: deviceRunner(ctx, o.zone, (r) => (online = r), o.zero !== false),
    });
  } catch (e) {
    if (e instanceof PolicyError) journal.clear();
    throw e;
  }
  const cur = current(ctx, readDaxRegion(ctx.sysfs, dr.ownerDir));
  if (!matches(cur, layout)) {
    throw new KernelError(`${name} does not hold the planned layout after reassign: ${cur.map((c) => `${c.name} ${humanSize(c.size)}`).join(', ')}`, {device: name, fix: 'daxram recover retries; see dmesg for dax bus errors'});
  }
  const result = daxLayoutResult(ctx, name, dr, plan, layout, before, false, online);
  // A device left offline (--no-online) is devdax in the records too.
  confirmDecision(ctx, o.decision, subject, {devices: result.devices.map((d) => ({dax: d.name, role: d.role === 'ram' && o.online !== false ? 'ram' : 'devdax'}))});
  journal.clear();
  return result;
}

/** Recovery: rebuild with the journaled arguments; a region that is gone (a reset took the CXL region) leaves nothing to do. */
export async function convergeDaxReassign(ctx: Context, entry: JournalEntry): Promise<string> {
  try {
    findDaxRegion(ctx.sysfs, entry.device);
  } catch (e) {
    if (e instanceof NotFoundError) return `${entry.device} is gone: nothing to finish`;
    throw e;
  }
  const r = await doDaxReassign(ctx, entry.device, BigInt(entry.args.ram ?? '0'), {online: entry.args.online, zone: entry.args.zone as ZoneRequest | undefined, decision: decisionOf(entry)});
  return `laid out again: ${r.devices.map((d) => `${d.name} ${d.role} ${humanSize(d.size)}`).join(', ')}`;
}

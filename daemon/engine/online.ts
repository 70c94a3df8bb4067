// dax device → System RAM: unbind from device_dax, bind kmem (which hot-adds the ranges rounded
// inward to the memory block size), online every block in the requested zone on the device's
// target node, verify, and hard-offline residual poison when the policy says isolate.
//
// One file over 300 lines: the plan, the run, the rollback and the check afterwards share one
// online's facts (OnlineContextFacts) and must agree on them; the gates and poison are elsewhere.

import {DaxramError, KernelError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {blockRanges, clip, idRanges, normalize, type Range} from '../util/ranges';
import {DAX_DRIVERS, daxDriver, daxDriverLoaded, kmemBlockIds, kmemRanges, readDax} from '../model/dax';
import {readAutoOnline, readBlockSize} from '../model/hotplug';
import {DeviceBlocks, listMemBlockIds, memblockDir, readBlockState, readDeviceBlocks} from '../model/memblock';
import {readMeminfo, readNodeZones} from '../model/node';
import {readTiering} from '../model/tiers';
import {zoneBalanceGate} from '../policy/zone-balance';
import {deviceUuids} from '../model/identity';
import type {DaxDevice, MemBlocks} from '../model/types';
import type {Context} from './context';
import {onlineOrder, onlineValue, zoneMatches, zoneWord, type ZoneRequest} from './zone';
import {newPlan, sysfsStep, type Plan} from './plan';
import {enforceGates, evaluateGates, reservedGate, type GateResult} from '../policy/gates';
import {badblocksPoison, dimmSecurity, providerOf, unknownMce} from '../policy/sources';
import {Journal, newJournalEntry} from './journal';
import {confirmDecision, decisionArgs, recordDecision, type Decision} from './intent';
import {runPlan, type StepLog} from './exec';
import {pagesOf} from './hwpoison';
import {freshlyIsolated, isolateSteps, verifyIsolation} from './isolate';
import {onliningUdevRules} from './udev-rules';
import {journalledClear} from './clear';
import {heldPolicyArgs, policyToTake, restorePolicyStep, takePolicyStep} from './hotplug-policy';
import {doOffline} from './offline';
import {isChecked, markChecked} from './checked';
import {decideMemmap, poisonInMemmapArea} from './memmap';
import {memmapFacts} from '../model/memmap';

export interface OnlineOptions {
  /** movable (online_movable, default), normal (online_kernel) or auto (online: the kernel picks). */
  zone?: ZoneRequest;
  /** false: bind kmem but leave the blocks offline (refused when the kernel would online them anyway). */
  online?: boolean;
  force?: boolean;
  busyRetries?: number;
  busyDelayMs?: number;
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export interface BlockReport {
  name: string;
  state?: string;
  zone?: string;
  node?: number;
  /** Who onlined it: this run, or the kernel/udev (auto_online_blocks, a rule) before we could. */
  by: 'daxram' | 'kernel' | 'none';
}

export interface OnlineResult {
  device: string;
  dryRun: boolean;
  plan: Plan;
  node: number;
  zone: ZoneRequest;
  blocks: BlockReport[];
  /** Bytes kmem hot-added (blocks × block size) and the device size for comparison. */
  bytes: bigint;
  size: bigint;
  /** udevRules: read for --no-online, a dry run, or when blocks were onlined by someone else. */
  autoOnline: {policy: string; udevRules?: string[]; landed: {block: string; zone: string}[]};
  isolated: string[];
  hardwareCorrupted?: {before: bigint; after: bigint};
  warnings: string[];
}

export interface OnlineContextFacts {
  /** Found in RAM unchecked: gates are reported, not enforced; poison in use is isolated. */
  adopt: boolean;
  /** Adopting: offline blocks that hold poison, left offline. */
  keepOffline: number[];
  dev: DaxDevice;
  bs: bigint;
  ids: number[];
  /** The device's blocks as the plan read them (none when kmem does not hold it). */
  blocks: MemBlocks;
  gates: GateResult[];
  /** Poisoned parts of the blocks kmem adds, isolated after online (online-and-isolate). */
  isolate: Range[];
  /** Onlining udev rules, when the plan needed to know them. */
  udevRules?: string[];
  /** Blocks the zone-balance gate sends to Normal although Movable was asked (zone-balance=split). */
  normalIds: Set<number>;
}

function deviceFacts(ctx: Context, name: string): {dev: DaxDevice; bs: bigint; ids: number[]} {
  const dev = readDax(ctx.sysfs, name);
  if (dev.targetNode < 0) {
    throw new KernelError(
      `${name} has target_node ${dev.targetNode}; firmware did not describe a proximity domain for ${dev.origin.region ?? 'its range'}, and kmem rejects such a device (EINVAL)`,
      {device: name, code: 'EINVAL', fix: 'the platform firmware (ACPI NFIT/SRAT, or the VM configuration: -device nvdimm,node=N) must assign the range to a NUMA node'},
    );
  }
  if (dev.driver && dev.driver !== 'device_dax' && dev.driver !== 'kmem') {
    throw new UsageError(`${name} is bound to an unexpected driver "${dev.driver}"`, {device: name, fix: 'unbind it first; daxram only moves devices between device_dax and kmem'});
  }
  const bs = readBlockSize(ctx.sysfs);
  if (bs === 0n) throw new KernelError('this kernel has no memory hotplug (no /sys/devices/system/memory/block_size_bytes)', {device: name, fix: 'kmem needs CONFIG_MEMORY_HOTPLUG'});
  const ids = kmemBlockIds(dev.ranges, bs);
  if (ids.length === 0) {
    throw new UsageError(
      `${name} (${humanSize(dev.size)}) holds no whole ${humanSize(bs)} memory block after kmem aligns its range(s) inward to the block size`,
      {device: name, code: 'EINVAL', fix: `use a device of at least ${humanSize(bs * 2n)}, or lay the namespace out on block boundaries (daxram provision ${dev.origin.region ?? 'REGION'})`},
    );
  }
  return {dev, bs, ids};
}

export async function planOnline(ctx: Context, name: string, o: OnlineOptions = {}): Promise<OnlineContextFacts & {plan: Plan}> {
  const zone = o.zone ?? 'movable';
  const {dev, bs, ids} = deviceFacts(ctx, name);
  const bytes = BigInt(ids.length) * bs;
  const plan = newPlan('online', name, `online ${name} → System RAM on node ${dev.targetNode}, zone ${zoneWord(zone)}: ${ids.length} block(s), ${humanSize(bytes)} of ${humanSize(dev.size)}`);
  const found = await checkPoison(ctx, plan, dev, bs, ids, zone);
  alignmentNotes(plan, dev, bs);
  const bind = planBind(ctx, plan, dev, bs, ids, found, zone, o);
  const wantOnline = o.online !== false;
  const toOnline = wantOnline ? ids.filter((id) => !found.onlineNow.has(id) && !found.keepOffline.includes(id)) : [];
  const normalIds = zoneBalance(ctx, dev, bs, toOnline, bind, zone, found.gates);
  bindSteps(ctx, plan, dev, ids, bind);
  if (wantOnline) onlineSteps(ctx, plan, dev, bs, ids, found, normalIds, zone);
  const split = normalIds.size ? ` (${normalIds.size} in Normal: zone-balance=split)` : '';
  plan.steps.push({kind: 'verify', device: name, what: `${name} bound to kmem; ${wantOnline ? `memory${ids[0]}..memory${ids[ids.length - 1]} online${zone === 'auto' ? '' : ` in ${zoneWord(zone)}`}${split}` : 'blocks present'} on node ${dev.targetNode}${found.isolate.length ? `; ${pagesOf(found.isolate).length} page(s) hwpoisoned` : ''}`});
  // Block ids in the kernel's list format ("65-24640"): a name per block was 24,576 strings per 3 TiB.
  plan.expect = {node: dev.targetNode, zone, blockIds: idRanges(ids), bytes, online: wantOnline, ...(normalIds.size ? {normalIds: idRanges([...normalIds])} : {})};
  const {adopt, keepOffline, gates, isolate, blocks} = found;
  return {plan, adopt, keepOffline, dev, bs, ids, blocks, gates, isolate, udevRules: bind.rules, normalIds};
}

interface PoisonFacts {
  /** The device's blocks as read before this run (empty when it is not bound to kmem). */
  blocks: MemBlocks;
  /** Blocks online before this run. */
  onlineNow: Set<number>;
  adopt: boolean;
  gates: GateResult[];
  poison: {remaining: Range[]};
  isolate: Range[];
  keepOffline: number[];
}

/**
 * The device's poison, cleared where that is safe, and the gates on it. Memory already in the
 * allocator that daxram never checked (the kernel's auto-online at boot, daxctl, a udev rule) is
 * adopted: its poison is read without clearing (clearing overwrites what may be live data),
 * poison in online blocks is isolated whatever the policy (refusing cannot take the memory
 * back), and blocks go to the zone asked where the kernel lets them.
 */
async function checkPoison(ctx: Context, plan: Plan, dev: DaxDevice, bs: bigint, ids: number[], zone: ZoneRequest): Promise<PoisonFacts> {
  const name = dev.name;
  const blocks = dev.driver === 'kmem' ? readDeviceBlocks(ctx.sysfs, ids, bs, dev.targetNode) : DeviceBlocks.NONE;
  const onlineNow = new Set(ids.filter((id) => blocks.get(id)?.state === 'online'));
  const adopt = onlineNow.size > 0 && !isChecked(ctx, dev);
  const settled = dev.driver === 'kmem' && onlineNow.size === ids.length && !adopt && ids.every((id) => zoneMatches(zone, blocks.get(id)?.validZones ?? []));
  if (adopt) plan.warnings.push(`${name} is System RAM daxram has not checked (onlined by the kernel or another tool): its poison is read without clearing, poison in use is isolated, blocks move to the ${zoneWord(zone)} zone where the kernel allows`);

  // A device daxram already checked and that is where it was asked to be needs no scrub.
  const source = ctx.poison ?? badblocksPoison(ctx.sysfs);
  if (ctx.dryRun && source.describe && !settled) plan.scrub = source.describe(dev);
  const poison = settled ? {scrubSupported: true, found: [], cleared: [], remaining: [], source: 'checked earlier this boot'} : await journalledClear(ctx, name, !adopt, () => source(dev, {clear: !adopt}));
  const mce = await (ctx.mce ?? unknownMce)();
  const gates = evaluateGates({dev, policy: ctx.policy, poison, mce, security: dimmSecurity(ctx.sysfs, dev), provider: providerOf(ctx.sysfs, dev), uuids: deviceUuids(dev)});
  plan.gates = gates;
  const blocksAdded = blockRanges(ids, bs);
  const inUse = blockRanges(onlineNow, bs);
  const poisoned = adopt ? poison.remaining : gates.find((g) => g.verdict === 'isolate') ? poison.remaining : [];
  const isolate = normalize((adopt ? inUse : blocksAdded).flatMap((b) => clip(poisoned, b)));
  // Adopting: an offline block with poison in it stays offline (it is not in use, so the gate's word stands).
  const keepOffline = adopt ? ids.filter((id) => !onlineNow.has(id) && clip(poison.remaining, {start: BigInt(id) * bs, size: bs}).length > 0) : [];
  if (keepOffline.length) plan.warnings.push(`${keepOffline.map((id) => `memory${id}`).join(' ')} hold(s) poison and stay offline`);
  const outside = pagesOf(poisoned).length - pagesOf(isolate).length;
  if (!adopt && outside > 0) plan.notes.push(`${outside} poisoned page(s) lie in the head/tail kmem does not add: never RAM, nothing to isolate`);
  return {blocks, onlineNow, adopt, gates, poison, isolate, keepOffline};
}

/** What kmem's inward alignment to the block size makes of each range. */
function alignmentNotes(plan: Plan, dev: DaxDevice, bs: bigint): void {
  for (const k of kmemRanges(dev.ranges, bs)) {
    plan.notes.push(
      `range 0x${k.range.start.toString(16)}-0x${(k.range.start + k.range.size - 1n).toString(16)}: ` +
        (k.blocks ? `memory${k.firstBlock}..memory${k.firstBlock + k.blocks - 1} (${k.blocks} × ${humanSize(bs)}); lost to alignment: head ${humanSize(k.lostHead)}, tail ${humanSize(k.lostTail)}` : `smaller than one block after alignment: not added`),
    );
  }
}

interface BindFacts {
  /** kmem will (re)bind the device and add its blocks. */
  binds: boolean;
  /** kmem holds the device with every block offline and its struct pages are to move: unbind first. */
  rebind: boolean;
  memmap: ReturnType<typeof decideMemmap>;
  mf: ReturnType<typeof memmapFacts>;
  /** The hot-add policy to hold at "offline" while kmem binds. */
  hold?: string;
  rules?: string[];
}

/** Whether kmem binds, where the struct pages go, and whether the kernel's hot-add policy must be held for it. */
function planBind(ctx: Context, plan: Plan, dev: DaxDevice, bs: bigint, ids: number[], found: PoisonFacts, zone: ZoneRequest, o: OnlineOptions): BindFacts {
  const name = dev.name;
  const auto = readAutoOnline(ctx.sysfs);
  const wantOnline = o.online !== false;
  // Struct pages: on the device or in DRAM, decided before kmem adds the blocks. A device kmem
  // already holds with every block offline (6.3+ binds CXL/hmem by itself) is re-bound when its
  // struct pages are not where the policy wants them.
  const mf = memmapFacts(ctx.sysfs, name, bs);
  const memmap = decideMemmap(ctx.policy.memmap, mf, name, ids.length, poisonInMemmapArea(found.poison.remaining, ids, bs, mf.perBlock));
  const rebind = dev.driver === 'kmem' && found.onlineNow.size === 0 && memmap.write !== undefined && mf.param !== 'off' && mf.param !== 'absent';
  const binds = dev.driver !== 'kmem' || rebind;
  // A zone asked for (or blocks to stay offline) means the kernel must not online the blocks
  // as kmem adds them: hold its policy for the bind (engine/hotplug-policy.ts). --zone auto
  // leaves the policy alone: the kernel decides.
  const hold = binds && (zone !== 'auto' || !wantOnline) ? policyToTake(ctx) : undefined;
  // A normal online sees a racing rule in its result (blocks onlined by someone else); only
  // --no-online depends on the rules up front, and a dry run explains them.
  const rules = !wantOnline || ctx.dryRun ? onliningUdevRules(ctx) : undefined;
  if (!wantOnline && binds && rules?.length && !o.force) {
    throw new UsageError(`--no-online would not keep ${name} offline: udev rule(s) ${rules.join(', ')} online hot-added memory`, {
      device: name,
      fix: 'drop --no-online, or pass --force to bind kmem knowing udev will online the blocks itself',
    });
  }
  if (hold) plan.notes.push(`auto_online_blocks is "${hold}": daxram holds it at "offline" while kmem binds ${name}, then gives it back; other memory hot-added in that window is onlined as "${hold}" says`);
  else if (binds && auto !== 'offline' && auto !== 'unsupported') plan.warnings.push(`auto_online_blocks is "${auto}": with --zone auto the kernel onlines the blocks itself when kmem binds; the zone they land in is reported`);
  if (rules?.length) plan.warnings.push(`udev rule(s) online hot-added memory: ${rules.join(', ')}`);
  if (binds) {
    plan.notes.push(memmap.note);
    if (memmap.warning) plan.warnings.push(memmap.warning);
  }
  return {binds, rebind, memmap, mf, hold, rules};
}

/**
 * The zone-balance gate: what this online leaves Movable:Kernel at, with the struct pages where
 * they go. Returns the blocks it sends to Normal: on a split the lowest ones, as movablecore=
 * lays a node out at boot (Normal below Movable).
 */
function zoneBalance(ctx: Context, dev: DaxDevice, bs: bigint, toOnline: number[], bind: BindFacts, zone: ZoneRequest, gates: GateResult[]): Set<number> {
  const meminfo = readMeminfo(ctx.sysfs);
  const zb = zoneBalanceGate({
    device: dev.name, nodes: readNodeZones(ctx.sysfs), node: dev.targetNode, blocks: toOnline.length, blockSize: bs, zone,
    // Bound already: where kmem put them when it bound.
    memmapOnDevice: bind.binds ? bind.memmap.where === 'device' : bind.mf.attr === true && (bind.mf.param === 'on' || bind.mf.param === 'force'),
    demotion: readTiering(ctx.sysfs).demotion, swapBytes: meminfo.get('SwapTotal') ?? 0n, policy: ctx.policy,
  });
  gates.push(zb);
  return new Set(zb.verdict === 'split' ? toOnline.slice(0, toOnline.length - zb.movableBlocks) : []);
}

/** Driver: device_dax → kmem, with the struct pages placed and the hot-add policy held around the bind. */
function bindSteps(ctx: Context, plan: Plan, dev: DaxDevice, ids: number[], bind: BindFacts): void {
  const name = dev.name;
  const {memmap, hold} = bind;
  const kmemDir = `${DAX_DRIVERS}/kmem`;
  const ddDir = `${DAX_DRIVERS}/device_dax`;
  const driverNow = () => daxDriver(ctx.sysfs, name);
  if (bind.rebind) {
    plan.steps.push(
      sysfsStep(kmemDir, 'kmem', 'unbind', name, name, `release ${name} from kmem (its blocks are all offline) to move its struct pages ${memmap.where === 'device' ? 'onto the device' : 'to DRAM'}`, {
        skip: () => (driverNow() !== 'kmem' ? `${name} is not bound to kmem` : undefined),
      }),
    );
  }
  if (!bind.binds) return;
  if (memmap.write !== undefined) {
    plan.steps.push(
      sysfsStep(dev.sysPath, name, 'memmap_on_memory', memmap.write, name, memmap.write === '1' ? `struct pages on ${name} itself: saves ${humanSize(memmap.bytes)} of DRAM` : `struct pages in DRAM (${humanSize(memmap.bytes)})`, {
        already: `memmap_on_memory is ${memmap.write}`,
      }),
    );
  }
  if (hold) plan.steps.push(takePolicyStep(ctx, name, hold));
  if (!daxDriverLoaded(ctx.sysfs, 'kmem')) {
    plan.steps.push({kind: 'modprobe', module: 'kmem', device: name, why: 'the kmem driver hot-adds a dax range as System RAM', present: kmemDir});
  }
  if (dev.driver === 'device_dax' && !bind.rebind) {
    plan.steps.push(
      sysfsStep(ddDir, 'device_dax', 'unbind', name, name, `release ${name} from device_dax (its /dev/${name} goes away)`, {
        unless: `${name} is not bound to device_dax`,
        skip: () => (driverNow() !== 'device_dax' ? `${name} is not bound to device_dax` : undefined),
        mark: 'unbind',
      }),
    );
  }
  plan.steps.push(
    sysfsStep(kmemDir, 'kmem', 'new_id', name, name, `let kmem match ${name}; the kernel probes it right away`, {
      unless: `${name} is already bound to kmem`,
      skip: () => (driverNow() === 'kmem' ? `${name} is already bound to kmem` : undefined),
      tolerate: ['EEXIST', 'EBUSY', 'EINVAL', 'ENXIO', 'ENODEV'],
    }),
    sysfsStep(kmemDir, 'kmem', 'bind', name, name, `bind kmem: hot-add ${ids.length} block(s) on node ${dev.targetNode}`, {
      unless: `${name} is already bound to kmem (new_id probed it)`,
      skip: () => (driverNow() === 'kmem' ? `${name} is bound to kmem` : undefined),
      mark: 'bind',
    }),
  );
  if (hold) plan.steps.push(restorePolicyStep(name, hold, listMemBlockIds(ctx.sysfs), ids));
}

/** Blocks: those adopted in another zone offlined first, then every block not online (or kept offline) onlined, then poison isolated. */
function onlineSteps(ctx: Context, plan: Plan, dev: DaxDevice, bs: bigint, ids: number[], found: PoisonFacts, normalIds: Set<number>, zone: ZoneRequest): void {
  const name = dev.name;
  const {onlineNow, keepOffline} = found;
  // Blocks online now that this run moves to another zone; the others online stay as they are.
  const moved = new Set<number>();
  if (found.adopt && zone !== 'auto') {
    // Blocks in another zone: offline (its pages migrate; EBUSY when some cannot) and online
    // again in the zone asked, block by block; a block the kernel keeps is reported, not fatal.
    for (const id of [...onlineNow].sort((a, b) => a - b)) {
      const zones = found.blocks.get(id)?.validZones ?? [];
      if (zoneMatches(zone, zones)) continue;
      moved.add(id);
      plan.steps.push(
        sysfsStep(memblockDir(id), `memory${id}`, 'state', 'offline', name, `move memory${id} from ${zones.join(' ')} to ${zoneWord(zone)}: offline it first (its pages migrate)`, {
          unless: `memory${id} is not online in another zone`,
          skip: () => (readBlockState(ctx.sysfs, id) !== 'online' ? `memory${id} is not online` : undefined),
          tolerate: ['EBUSY', 'EAGAIN'],
        }),
      );
    }
  }
  // Already online and staying: no step (a 3 TiB device adopted as it is would otherwise plan,
  // and re-read, 24,576 of them). Each zone's blocks in onlineOrder: see there.
  const todo = ids.filter((id) => !keepOffline.includes(id) && !(onlineNow.has(id) && !moved.has(id)));
  const order = [...onlineOrder(todo.filter((id) => normalIds.has(id))), ...onlineOrder(todo.filter((id) => !normalIds.has(id)))];
  order.forEach((id, i) => {
    const z = normalIds.has(id) ? 'normal' : zone;
    plan.steps.push(
      sysfsStep(memblockDir(id), `memory${id}`, 'state', onlineValue(z), name, `online block ${i + 1}/${order.length} (0x${(BigInt(id) * bs).toString(16)}) ${z === 'auto' ? '' : `in the ${zoneWord(z)} zone`}${z !== zone ? ' (zone-balance=split)' : ''}`, {
        unless: `memory${id} is already online`,
        skip: () => (readBlockState(ctx.sysfs, id) === 'online' ? `memory${id} is already online` : undefined),
        mark: i === Math.floor(order.length / 2) - 1 || (order.length === 1 && i === 0) ? 'half' : undefined,
        readOnRefusal: true,
      }),
    );
  });
  plan.steps.push(...isolateSteps(name, found.isolate));
}

/**
 * Throws the reserved gate's refusal for `name` without scrubbing or planning: the CLI asks
 * before it records the operator's intent, so a refused device never gets a "ram" record.
 */
export function refuseIfReserved(ctx: Context, name: string): void {
  const dev = readDax(ctx.sysfs, name);
  enforceGates(name, [reservedGate({dev, policy: ctx.policy, provider: providerOf(ctx.sysfs, dev), uuids: deviceUuids(dev)})]);
}

/** What recovery needs to give the hot-add policy back: the policy and the blocks present before it was held. */

/** What the run found about a device already in RAM: recorded so daxramd does not adopt it twice. */
function checkedNote(f: OnlineContextFacts): string {
  const g = f.gates.find((x) => x.gate === 'poison-scan');
  return g?.detail ?? 'checked';
}

/** A dry run: the plan and what it would report, nothing written. */
export async function dryOnline(ctx: Context, name: string, o: OnlineOptions = {}): Promise<OnlineResult> {
  const f = await planOnline(ctx, name, o);
  // Nothing runs: the blocks after are the blocks the plan read.
  return report(ctx, f, o, [], true, f.blocks);
}

/** The transition itself, under the lock. Also the forward path of recover(). */
export async function doOnline(ctx: Context, name: string, o: OnlineOptions, how: {enforce: boolean}): Promise<OnlineResult> {
  const f = await planOnline(ctx, name, o);
  // Gates guard a range on its way to the allocator; a device already there is verified,
  // and adopted when daxram never checked it.
  if (how.enforce && !f.adopt && f.plan.steps.some((s) => s.kind !== 'verify')) enforceGates(name, f.gates);
  for (const g of f.gates) if (g.verdict === 'warn') ctx.log.warn(`${name}: ${g.gate}: ${g.detail}`);
  const subject = {kind: 'device', device: name, mode: 'ram'} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = new Journal(ctx.stateDir);
  const intent = newJournalEntry('online', name, {zone: o.zone ?? 'movable', online: o.online !== false, ranges: f.isolate.map((r) => `0x${r.start.toString(16)}+0x${r.size.toString(16)}`), ...heldPolicyArgs(f.plan), ...decisionArgs(o.decision)}, f.plan.steps.length);
  const hcBefore = readMeminfo(ctx.sysfs).get('HardwareCorrupted') ?? 0n;
  let log: StepLog[];
  let result: OnlineResult;
  try {
    log = await runPlan(ctx, f.plan, {journal, intent, busyRetries: o.busyRetries, busyDelayMs: o.busyDelayMs});
    const after = readDeviceBlocks(ctx.sysfs, f.ids, f.bs, f.dev.targetNode);
    result = report(ctx, f, o, log, false, after);
    verify(ctx, f, o, result, after, hcBefore, freshlyIsolated(f.plan, log));
  } catch (e) {
    // A device found in RAM was RAM before this run: taking it away would be a change nobody
    // asked for. It stays, unchecked, and the journal lets the next run finish the adoption.
    if (f.adopt) ctx.log.warn(`${name}: adopting it failed (${(e as Error).message}); it stays System RAM as found, the next run retries`);
    else await rollback(ctx, name, e, o);
    throw e;
  }
  markChecked(ctx, f.dev, f.adopt ? 'adopted' : 'online', checkedNote(f));
  confirmDecision(ctx, o.decision, subject);
  journal.clear();
  return result;
}

/** A failed online goes back to devdax (zeroed: blocks may have served allocations). */
async function rollback(ctx: Context, name: string, cause: unknown, o: OnlineOptions): Promise<void> {
  ctx.log.warn(`${name}: online failed (${(cause as Error).message}); returning ${name} to device_dax`);
  try {
    await doOffline(ctx, name, {zero: true, busyRetries: o.busyRetries, busyDelayMs: o.busyDelayMs});
    if (cause instanceof DaxramError) (cause as {rolledBack?: boolean}).rolledBack = true;
  } catch (e2) {
    ctx.log.warn(`${name}: rollback did not finish (${(e2 as Error).message}); the intent journal in ${ctx.stateDir} lets the next daxram run converge it`);
  }
}

function report(ctx: Context, f: OnlineContextFacts & {plan: Plan}, o: OnlineOptions, log: StepLog[], dryRun: boolean, after: MemBlocks): OnlineResult {
  const zone = o.zone ?? 'movable';
  const written = new Set<string>();
  log.forEach((l) => {
    const s = f.plan.steps[l.step];
    if (s.kind === 'sysfs' && s.attr === 'state' && l.done === 'written') written.add(s.object);
  });
  const blocks: BlockReport[] = f.ids.map((id) => {
    const b = after.get(id);
    if (!b) return {name: `memory${id}`, state: 'absent', by: 'none'};
    const by = b.state === 'online' ? (written.has(b.name) ? 'daxram' : 'kernel') : 'none';
    const zones = b.validZones;
    return {name: b.name, state: b.state, zone: b.state === 'online' ? (zones.length === 1 ? zones[0] : zones.join(' ')) : undefined, node: b.node, by};
  });
  const landed = blocks.filter((b) => b.by === 'kernel').map((b) => ({block: b.name, zone: b.zone ?? '?'}));
  const warnings = [...f.plan.warnings];
  const auto = readAutoOnline(ctx.sysfs);
  let udevRules = f.udevRules;
  if (landed.length && !dryRun) {
    udevRules ??= onliningUdevRules(ctx);
    const zones = [...new Set(landed.map((l) => l.zone))].join(', ');
    const who = [`auto_online_blocks=${auto}`, ...(udevRules.length ? [`udev rule(s) ${udevRules.join(', ')}`] : [])].join('; ');
    warnings.push(`${landed.length} block(s) were already onlined by the kernel or udev (${who}) and landed in ${zones}`);
  }
  for (const g of f.gates) if (g.verdict === 'warn') warnings.push(`${g.gate}: ${g.detail}`);
  if (f.adopt && zone !== 'auto' && !dryRun) {
    const stuck = blocks.filter((b) => b.state === 'online' && b.zone !== undefined && !zoneMatches(zone, b.zone.split(' ')));
    const why = (b: BlockReport) => {
      const l = log.find((x) => {
        const s = f.plan.steps[x.step];
        return s.kind === 'sysfs' && s.object === b.name && s.value === 'offline';
      });
      return l?.done === 'tolerated' ? `the kernel would not offline it (${l.detail}): pages it cannot migrate` : 'not moved';
    };
    for (const b of stuck) warnings.push(`${b.name} stays in ${b.zone}: ${why(b)}`);
  }
  return {
    device: f.dev.name,
    dryRun,
    plan: f.plan,
    node: f.dev.targetNode,
    zone,
    blocks,
    bytes: BigInt(f.ids.length) * f.bs,
    size: f.dev.size,
    autoOnline: {policy: auto, udevRules, landed},
    isolated: pagesOf(f.isolate).map((p) => '0x' + p.toString(16)),
    warnings,
  };
}

function verify(ctx: Context, f: OnlineContextFacts, o: OnlineOptions, r: OnlineResult, after: MemBlocks, hcBefore: bigint, freshlyPoisoned: number): void {
  const name = f.dev.name;
  const zone = o.zone ?? 'movable';
  const drv = daxDriver(ctx.sysfs, name);
  if (drv !== 'kmem') {
    throw new KernelError(`${name} is not bound to kmem after bind (driver: ${drv ?? 'none'})`, {device: name, code: 'ENXIO', fix: 'see dmesg for the kmem probe error'});
  }
  // r.blocks is f.ids' report, in the same order. Indexed, and a path only for an error: this
  // runs once per transition over every block (24,576 for 3 TiB).
  for (let i = 0; i < f.ids.length; i++) {
    const id = f.ids[i];
    const b = after.get(id);
    if (!b) throw new KernelError(`memory${id} did not appear after kmem bound ${name}`, {device: name, path: memblockDir(id), code: 'ENXIO', fix: 'see dmesg: add_memory may have failed (resource conflict)'});
    if (b.node !== f.dev.targetNode) {
      throw new KernelError(`memory${id} is on node ${b.node}, expected target_node ${f.dev.targetNode}`, {device: name, path: memblockDir(id), fix: 'check the platform NUMA description (SRAT) against the region target_node'});
    }
    if (o.online === false || f.keepOffline.includes(id)) continue;
    if (b.state !== 'online') throw new KernelError(`memory${id} is ${b.state} after onlining`, {device: name, path: memblockDir(id), fix: 'see dmesg'});
    const z = f.normalIds.has(id) ? 'normal' : zone;
    if (!zoneMatches(z, b.validZones) && r.blocks[i].by === 'daxram') {
      throw new KernelError(`memory${id} went online in ${b.validZones.join(' ')}, not the requested ${z} zone`, {device: name, path: memblockDir(id), fix: 'zones must stay contiguous per node: online the other blocks of this node in the same zone'});
    }
  }
  if (f.isolate.length) r.hardwareCorrupted = verifyIsolation(ctx, name, f.isolate, hcBefore, freshlyPoisoned);
}

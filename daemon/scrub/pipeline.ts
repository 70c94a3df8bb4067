// Scrub-and-clear for one dax device: the safety step before a range reaches the page allocator.
//
//   ARS_CAP(range) → scrub type supported? → ARS_START/ARS_STATUS until done (ars.ts)
//   → found = ARS records ∪ region badblocks, inside the device's range
//   → CLEAR_ERROR each, aligned (clear.ts), checking `cleared`
//   → verify: a second scrub and a fresh read of region badblocks.
//
// A device with no ARS behind it (QEMU's NFIT, e820 "memmap=" pmem, hmem, CXL) is not an error:
// the result says scrubSupported=false with the reason, and policy decides what that means.
// Region badblocks are still reported for NVDIMM devices, since the kernel may know poison even
// where user space cannot scrub.
//
// One file over 300 lines: the steps of one scrub, in order, each a named function over one
// ScrubRun.

import {DaxramError, NotFoundError} from '../errors';
import type {Bus, DaxDevice, Range, Region} from '../model/types';
import {readBadblockRanges, readRegion} from '../model/region';
import {ND_DEVICES, readBus} from '../model/bus';
import {onNdBus, readDax} from '../model/dax';
import {ArsCapResult, ND_ARS_PERSISTENT, ND_ARS_VOLATILE, NativeBinding} from '../native';
import {NdBusHandle} from '../ndctl';
import type {Sysfs} from '../sysfs';
import {ArsScan, Clock, KernelScrub, arsCapability, realClock, runArs, ScrubAttr, ScrubProgress} from './ars';
import {ClearOutcome, executeClears, planClears} from './clear';
import {clearCxlPoison, poisonInRegion, readCxlPoison, type CxlPoisonRecord, type PoisonListOptions} from './cxl';
import {cxlRegionByName} from '../model/cxl/scan';
import type {CxlRegion} from '../model/cxl/types';
import {clip, hex, intersect, normalize, subtract} from '../util/ranges';

const ARS_COMMANDS = ['ars_cap', 'ars_start', 'ars_status'];

/** What the pipeline needs to know about a device: taken from the platform model. */
export interface ScrubTarget {
  device: string;
  ranges: Range[];
  /** What made it: decides the poison source (ARS, a CXL poison list, or none). */
  kind?: DaxDevice['origin']['kind'];
  /** CXL: its region (memdevs, HPA range). */
  cxl?: CxlRegion;
  bus?: {name: string; dev: string; provider: string; commands: string[]; scrubSupported: boolean};
  region?: {name: string; resource: bigint; size: bigint; devtype: string; dir: string};
}

export function targetOf(dev: DaxDevice): ScrubTarget {
  return targetFrom(dev.name, dev.ranges, dev.bus ?? dev.region?.bus, dev.region);
}

function targetFrom(device: string, ranges: Range[], bus: Bus | undefined, region: Region | undefined): ScrubTarget {
  const t: ScrubTarget = {device, ranges: ranges.map((r) => ({start: r.start, size: r.size}))};
  if (bus) t.bus = {name: bus.name, dev: bus.dev, provider: bus.provider, commands: bus.commands, scrubSupported: bus.scrubSupported};
  if (region) t.region = {name: region.name, resource: region.resource, size: region.size, devtype: region.devtype, dir: region.dir};
  return t;
}

export interface ScrubOptions {
  /** Clear what is found (daxram clear) or only report it (daxram scrub). */
  clear: boolean;
  /** Plan the clears but issue no CLEAR_ERROR. The scrub itself still runs (it changes no data). */
  dryRun?: boolean;
  /** Second scrub after clearing (default true when something was cleared). */
  verify?: boolean;
  timeoutMs?: number;
  /** Ends the waits early (daxramd stopping): the scrub throws ECANCELED; the device is left as it is. */
  signal?: AbortSignal;
  clock?: Clock;
  onProgress?: (p: ScrubProgress) => void;
  /** Override how the kernel's own scrub is waited for (tests). */
  kernelScrub?: KernelScrub;
  /** Mount tracefs/debugfs when needed (the CLI does; daxramd relies on systemd's mount units). */
  mount?: PoisonListOptions['mount'];
}

export interface PlannedIoctl {
  ioctl: 'ND_IOCTL_CLEAR_ERROR';
  dev: string;
  address: bigint;
  length: bigint;
}

export interface ScrubResult {
  device: string;
  bus?: string;
  provider?: string;
  region?: string;
  /** The device's physical ranges. */
  ranges: Range[];
  scrubSupported: boolean;
  /** Why not, when scrubSupported is false. */
  reason?: string;
  scrubType?: 'persistent' | 'volatile';
  clearErrUnit?: number;
  /** Poison in the device's ranges: ARS records ∪ region badblocks. */
  found: Range[];
  foundByArs: Range[];
  foundInBadblocks: Range[];
  /** Region badblocks outside this device (other namespaces / metadata): reported, not touched. */
  badblocksElsewhere: Range[];
  /** CLEAR_ERROR ranges (planned, or issued when not a dry run). */
  planned: Range[];
  cleared: Range[];
  failed: Array<{range: Range; error: string}>;
  /** Poison still present after the run (for a scrub-only or dry run: everything found). */
  remaining: Range[];
  unclearable: Range[];
  /** Verified clean by a second scrub and region badblocks (undefined when not verified). */
  verified?: boolean;
  /** CXL: the poison list records, per memdev (DPA, HPA when mapped), before any clear. */
  cxlRecords?: CxlPoisonRecord[];
  /** The kernel's own scrub was running and we waited for it. */
  waitedForKernelScrub: boolean;
  kernelScrubWaitMs: number;
  ars: Omit<ArsScan, 'records'>[];
  dryRun: boolean;
  ioctls: PlannedIoctl[];
  durations: {capMs: number; scrubMs: number; clearMs: number; verifyMs: number; totalMs: number};
}

function emptyResult(t: ScrubTarget, dryRun: boolean): ScrubResult {
  return {
    device: t.device,
    bus: t.bus?.name,
    provider: t.bus?.provider,
    region: t.region?.name,
    ranges: t.ranges,
    scrubSupported: false,
    found: [],
    foundByArs: [],
    foundInBadblocks: [],
    badblocksElsewhere: [],
    planned: [],
    cleared: [],
    failed: [],
    remaining: [],
    unclearable: [],
    waitedForKernelScrub: false,
    kernelScrubWaitMs: 0,
    ars: [],
    dryRun,
    ioctls: [],
    durations: {capMs: 0, scrubMs: 0, clearMs: 0, verifyMs: 0, totalMs: 0},
  };
}

/** Region badblocks read now (the model's copy may be stale after a clear). */
const readRegionBadblocks = (sysfs: Sysfs, region: Pick<Region, 'name' | 'dir' | 'resource'>): Range[] => readBadblockRanges(sysfs, region.dir, region.name, region.resource);

/** The clock's sleeps end in ECANCELED once `signal` aborts (checked before and after each). */
function abortable(clock: Clock, signal: AbortSignal | undefined, device: string): Clock {
  if (!signal) return clock;
  const check = () => {
    if (signal.aborted) throw new DaxramError(`${device}: scrub cancelled (daxramd is stopping); the device is left as it is`, {device, code: 'ECANCELED'});
  };
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), {once: true}));
  return {
    now: () => clock.now(),
    sleep: async (ms) => {
      check();
      await Promise.race([clock.sleep(ms), aborted]);
      check();
    },
  };
}

/**
 * Scrub (and with opts.clear, clear) one device. Throws typed errors for what the operator must
 * fix (EPERM, timeouts, firmware errors); "no ARS here" is a result, not an error.
 */
export async function scrubDevice(native: NativeBinding, sysfs: Sysfs, t: ScrubTarget, opts: ScrubOptions): Promise<ScrubResult> {
  const clock = abortable(opts.clock ?? realClock, opts.signal, t.device);
  const t0 = clock.now();
  const res = emptyResult(t, opts.dryRun ?? false);
  const finish = () => {
    res.durations.totalMs = Math.round(clock.now() - t0);
    return res;
  };
  if (t.ranges.length === 0) throw new NotFoundError(`${t.device} has no physical range (size 0?)`, {device: t.device});
  if (t.cxl) return scrubCxl(sysfs, t, t.cxl, opts, res, finish);
  if (t.kind === 'hmem') {
    res.reason = 'soft-reserved (hmem) memory: the platform exposes no poison list or address range scrub to user space, and the kernel keeps no badblocks for it';
    return finish();
  }
  const bb0 = t.region ? readRegionBadblocks(sysfs, t.region) : [];
  res.foundInBadblocks = normalize(t.ranges.flatMap((r) => clip(bb0, r)));
  res.badblocksElsewhere = subtract(bb0, t.ranges);
  res.reason = arsUnavailable(t);
  if (res.reason) {
    res.found = res.foundInBadblocks;
    res.remaining = res.found;
    return finish();
  }
  const bus = t.bus!;
  const type = t.region?.devtype === 'nd_volatile' ? ND_ARS_VOLATILE : ND_ARS_PERSISTENT;
  res.scrubType = type === ND_ARS_PERSISTENT ? 'persistent' : 'volatile';
  const handle = NdBusHandle.open(native, sysfs.p(bus.dev), {device: t.device});
  try {
    const c0 = clock.now();
    const caps = await capabilities(handle, t, type, res);
    res.durations.capMs = Math.round(clock.now() - c0);
    if (!caps) return finish();
    const run: ScrubRun = {
      handle, t, caps, type, clock, t0, sysfs, opts, res,
      deadline: t0 + (opts.timeoutMs ?? 3600_000),
      kernelScrub: opts.kernelScrub ?? new ScrubAttr(native, sysfs.p(`${ND_DEVICES}/${bus.name}/nfit/scrub`), clock),
    };
    await scrubAndClear(run);
    return finish();
  } catch (e) {
    if (e instanceof DaxramError) throw e;
    throw new DaxramError(`scrub of ${t.device} failed: ${(e as Error).message}`, {device: t.device, cause: e});
  } finally {
    handle.close();
  }
}

/** Why this device's bus offers no address range scrub, if it does not. */
function arsUnavailable(t: ScrubTarget): string | undefined {
  if (!t.bus) return 'no NVDIMM bus behind this device: the platform offers no address range scrub to user space';
  if (ARS_COMMANDS.every((c) => t.bus!.commands.includes(c))) return undefined;
  const have = t.bus.commands.length ? t.bus.commands.join(' ') : 'none';
  return `${t.bus.name} (${t.bus.provider}) does not implement ${ARS_COMMANDS.join('/')} (commands: ${have})`;
}

/** ARS_CAP for each range; undefined (with res.reason and badblocks as what was found) where the firmware cannot scrub one. */
async function capabilities(handle: NdBusHandle, t: ScrubTarget, type: number, res: ScrubResult): Promise<ArsCapResult[] | undefined> {
  const caps: ArsCapResult[] = [];
  for (const r of t.ranges) {
    const c = await arsCapability(handle, r, type);
    if (!c.supported) {
      res.reason = c.reason;
      res.found = res.foundInBadblocks;
      res.remaining = res.found;
      return undefined;
    }
    caps.push(c.cap);
  }
  res.scrubSupported = true;
  res.clearErrUnit = caps[0].clearErrUnit;
  return caps;
}

/** One device's scrub once ARS is known to work on every range. */
interface ScrubRun {
  handle: NdBusHandle;
  t: ScrubTarget;
  caps: ArsCapResult[];
  type: number;
  clock: Clock;
  t0: number;
  deadline: number;
  kernelScrub: KernelScrub;
  sysfs: Sysfs;
  opts: ScrubOptions;
  res: ScrubResult;
}

/** Scrub, then (with opts.clear, not a dry run) clear what can be cleared and verify with a second scrub. */
async function scrubAndClear(run: ScrubRun): Promise<void> {
  const {t, clock, res, opts} = run;
  const s0 = clock.now();
  res.foundByArs = await scrubRanges(run, 'ars');
  res.durations.scrubMs = Math.round(clock.now() - s0);
  // The kernel's scrub may have run while we waited; read badblocks again.
  res.foundInBadblocks = badblocksIn(run);
  res.found = normalize([...res.foundByArs, ...res.foundInBadblocks]);
  if (!opts.clear) {
    res.remaining = res.found;
    return;
  }
  const unit = planClearsOf(run);
  if (res.dryRun) {
    res.remaining = res.found;
    return;
  }
  const progress = (phase: ScrubProgress['phase'], message: string) => opts.onProgress?.({phase, device: t.device, elapsedMs: Math.round(clock.now() - run.t0), message});
  const k0 = clock.now();
  const outcomes: ClearOutcome[] = await executeClears(run.handle, res.planned, unit, (r) => progress('clear', `CLEAR_ERROR ${hex(r.start)}+${hex(r.size)}`));
  res.durations.clearMs = Math.round(clock.now() - k0);
  res.cleared = normalize(outcomes.filter((o) => o.ok).map((o) => o.range));
  res.failed = outcomes.filter((o) => !o.ok).map((o) => ({range: o.range, error: o.error ?? 'incomplete'}));
  // Verify: what a fresh scrub and the kernel's badblocks still see.
  if (opts.verify ?? res.planned.length > 0) {
    const v0 = clock.now();
    progress('verify', 'second scrub to verify');
    const again = await scrubRanges(run, 'verify');
    res.remaining = normalize([...again, ...badblocksIn(run)]);
    res.verified = res.remaining.length === 0;
    res.durations.verifyMs = Math.round(clock.now() - v0);
  } else {
    res.remaining = subtract(res.found, res.cleared);
  }
}

/** The region's badblocks inside the device's ranges, read now. */
function badblocksIn(run: ScrubRun): Range[] {
  const bb = run.t.region ? readRegionBadblocks(run.sysfs, run.t.region) : [];
  return normalize(run.t.ranges.flatMap((r) => clip(bb, r)));
}

/** One ARS pass over every range of the device; what it found, merged. */
async function scrubRanges(run: ScrubRun, phase: 'ars' | 'verify'): Promise<Range[]> {
  const {t, res, opts} = run;
  const found: Range[] = [];
  for (let i = 0; i < t.ranges.length; i++) {
    const scan = await runArs(run.handle, run.caps[i], t.ranges[i], {
      device: t.device,
      type: run.type,
      clock: run.clock,
      deadline: run.deadline,
      kernelScrub: run.kernelScrub,
      startedAt: run.t0,
      onProgress: (p) => opts.onProgress?.(phase === 'verify' ? {...p, phase: 'verify'} : p),
    });
    const {records, ...stats} = scan;
    res.ars.push(stats);
    if (scan.kernelScrubBusy > 0) res.waitedForKernelScrub = true;
    res.kernelScrubWaitMs += Math.round(scan.kernelScrubWaitMs);
    found.push(...records);
  }
  return normalize(found);
}

/** The clears, per device range, each clamped to what ARS_CAP said the firmware covers; returns the clear unit. */
function planClearsOf(run: ScrubRun): bigint {
  const {t, caps, res} = run;
  const unit = BigInt(res.clearErrUnit || 1);
  for (let i = 0; i < t.ranges.length; i++) {
    const capRange = caps[i].length > 0n ? {start: caps[i].address, size: caps[i].length} : t.ranges[i];
    const within = intersect(t.ranges[i], capRange) ?? t.ranges[i];
    const plan = planClears(res.found, within, unit);
    res.planned.push(...plan.clears);
    res.unclearable.push(...plan.unclearable);
  }
  res.planned = normalize(res.planned);
  res.unclearable = normalize(res.unclearable);
  res.ioctls = res.planned.map((r) => ({ioctl: 'ND_IOCTL_CLEAR_ERROR', dev: t.bus!.dev, address: r.start, length: r.size}));
  return unit;
}

/**
 * The ioctls a real scrub-and-clear of `t` issues, for a dry run (which issues none: a scrub
 * takes minutes on real media and holds the bus's ARS for its whole length).
 */
export function describeScrub(sysfs: Sysfs, t: ScrubTarget): string[] {
  if (t.cxl) {
    const out = t.cxl.memdevs.map((m) => `write "1" > /sys/bus/cxl/devices/${m}/trigger_poison_list, read its cxl_poison events (DPA, and the HPA ${t.cxl!.name} decodes it to) in a tracefs instance of daxram's own`);
    out.push(`write "0xDPA" > /sys/kernel/debug/cxl/MEMDEV/clear_poison for each 64-byte unit of poison inside ${t.device}, then read the lists again to verify`);
    return out;
  }
  if (t.kind === 'hmem') return [`no poison source: soft-reserved memory has no poison list or address range scrub the platform exposes to user space (the poison-scan gate decides)`];
  const bb = t.region ? normalize(t.ranges.flatMap((r) => clip(readRegionBadblocks(sysfs, t.region!), r))) : [];
  const known = bb.length ? `${bb.length} range(s) in ${t.region!.name}/badblocks now: ${bb.map((r) => `${hex(r.start)}+${r.size}`).join(', ')}` : `none in ${t.region?.name ?? 'the region'}/badblocks now`;
  if (!t.bus) return [`no ioctl: no NVDIMM bus behind ${t.device} (hmem/CXL): the poison gate reads the kernel's badblocks (${known})`];
  if (!ARS_COMMANDS.every((c) => t.bus!.commands.includes(c))) {
    return [`no ioctl: ${t.bus.name} (${t.bus.provider}) does not implement ${ARS_COMMANDS.join('/')}: the poison gate reads ${t.region?.name ?? 'the region'}/badblocks (${known})`];
  }
  const type = t.region?.devtype === 'nd_volatile' ? 'volatile' : 'persistent';
  const out: string[] = [];
  for (const r of t.ranges) {
    const span = `address=${hex(r.start)}, length=${r.size}`;
    out.push(`ioctl(${t.bus.dev}, ND_IOCTL_ARS_CAP, ${span}, type=${type})`);
    out.push(`ioctl(${t.bus.dev}, ND_IOCTL_ARS_START, ${span}, type=${type})  (EBUSY while the kernel's own scrub runs: wait on ${t.bus.name}/nfit/scrub)`);
    out.push(`ioctl(${t.bus.dev}, ND_IOCTL_ARS_STATUS) until the scrub completes`);
  }
  out.push(`ioctl(${t.bus.dev}, ND_IOCTL_CLEAR_ERROR, …) for each poisoned range found, widened to whole sectors inside the ARS_CAP range (${known})`);
  out.push('a second ARS_START/ARS_STATUS over the same ranges to verify, if anything was cleared');
  return out;
}

/**
 * The scrub target of one device, read from its own bus and region only: a platform scan (every
 * bus, DIMM, region and namespace) cost more than the rest of an online's planning.
 */
export function targetByName(sysfs: Sysfs, name: string): ScrubTarget {
  const dev = readDax(sysfs, name);
  const o = dev.origin;
  const bus = onNdBus(o) && o.bus && o.busDir ? readBus(sysfs, o.bus, o.busDir) : undefined;
  const region = bus && o.region && o.regionDir ? readRegion(sysfs, o.region, o.regionDir, bus) : undefined;
  const t = targetFrom(name, dev.ranges, bus, region);
  t.kind = o.kind;
  if (o.kind === 'cxl' && o.region) t.cxl = cxlRegionByName(sysfs, o.region);
  return t;
}

/**
 * CXL: read every memdev's poison list (the device's own media check), keep what lies in the
 * device's ranges, clear it through debugfs when asked, and verify by reading again.
 */
function scrubCxl(sysfs: Sysfs, t: ScrubTarget, region: CxlRegion, opts: ScrubOptions, res: ScrubResult, finish: () => ScrubResult): ScrubResult {
  const mine = (recs: CxlPoisonRecord[]) => normalize(t.ranges.flatMap((r) => clip(poisonInRegion(recs, region), r)));
  const records = readCxlPoison(sysfs, region.memdevs, {mount: opts.mount});
  res.scrubSupported = true;
  res.scrubType = 'volatile';
  res.cxlRecords = records;
  res.found = mine(records);
  res.foundByArs = res.found;
  res.badblocksElsewhere = normalize(records.filter((r) => r.hpa === undefined || r.region !== region.name).map((r) => ({start: r.dpa, size: r.length})));
  if (!opts.clear || res.found.length === 0) {
    res.remaining = res.found;
    return finish();
  }
  const toClear = records.filter((r) => r.hpa !== undefined && mine([r]).length > 0);
  res.planned = normalize(toClear.map((r) => ({start: r.hpa!, size: r.length})));
  if (opts.dryRun) {
    res.remaining = res.found;
    return finish();
  }
  const outcomes = clearCxlPoison(sysfs, toClear, {mount: opts.mount});
  res.cleared = normalize(outcomes.filter((o) => o.ok).map((o) => ({start: o.record.hpa!, size: o.record.length})));
  res.failed = outcomes.filter((o) => !o.ok).map((o) => ({range: {start: o.record.hpa!, size: o.record.length}, error: o.error ?? 'refused'}));
  res.remaining = mine(readCxlPoison(sysfs, region.memdevs, {mount: opts.mount}));
  res.verified = res.remaining.length === 0;
  return finish();
}

/**
 * The engine's poison gate input (policy/sources.ts PoisonSource shape): scrub and clear the
 * device, report what remains. Structural types keep this module free of an engine import.
 */
export function scrubPoisonSource(
  native: NativeBinding,
  sysfs: Sysfs,
  opts: Omit<ScrubOptions, 'clear'> = {},
): (dev: {name: string}, o?: {clear?: boolean}) => Promise<{scrubSupported: boolean; found: Range[]; cleared: Range[]; remaining: Range[]; source: string}> {
  return async (dev, o) => {
    const t = targetByName(sysfs, dev.name);
    // CXL poison is cleared only when the operator asks (daxram clear): the kernel offers Clear
    // Poison through debugfs, a test interface, not an ABI an online should depend on.
    const r = await scrubDevice(native, sysfs, t, {...opts, clear: o?.clear !== false && !t.cxl});
    const verified = r.verified === undefined ? '' : r.verified ? ' (verified)' : ' (verification found poison)';
    const source = t.cxl
      ? `poison list of ${t.cxl.memdevs.join(', ')}${r.found.length ? '; not cleared: daxram clear clears it' : ''}`
      : r.scrubSupported
        ? `address range scrub on ${r.bus} + ${r.region}/badblocks${verified}`
        : `${r.region ? `${r.region}/badblocks` : 'none'} (scrub unsupported: ${r.reason})`;
    return {scrubSupported: r.scrubSupported, found: r.found, cleared: r.cleared, remaining: r.remaining, source};
  };
}

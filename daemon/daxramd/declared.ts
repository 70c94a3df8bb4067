// Capacity laid out at boot as declared: CXL regions and soft-reserved range splits that the
// operator made with the CLI (`daxram provision memA,memB`, `daxram reassign … --ram`, kept in
// /var/lib/daxram) or declared in the config (`[region NAME]`, config/regions.ts). A power cycle
// loses both: nothing programs OS-managed CXL decoders again, and the firmware gives a split
// range back as one device. So, while the hot-add policy is held and before devices reconcile:
//   a CXL region whose memdevs (by serial) are all there and in no region is made, its RAM part
//     split off when the declaration says so; one already over exactly those memdevs (committed
//     by firmware, or made earlier) is adopted and checked against the declaration;
//   a soft-reserved range found by its start is split again;
//   a memdev or range that is missing, or of another size, is reported and its capacity left alone.
// Each declaration is tried once per daxramd run: one that failed, or that something undid since,
// waits for the operator rather than being retried on every uevent. The devices of a region laid
// out as declared then want what it says (the RAM part System RAM, the rest devdax), unless a
// device has an operator record of its own.

import {describeError, isCancelled} from '../errors';
import {humanSize} from '../util/size';
import {hex, hmemKeyStart, keyKind, liveCxlRegionKey} from '../model/identity';
import {scanCxl} from '../model/cxl/scan';
import type {CxlTopology} from '../model/cxl/types';
import {daxRegionLayout, hmemRegionAt, provisionCxl, reassignDax, type Context, type LaidOut} from '../engine';
import type {Config, Zone} from '../config/config';
import type {OperatorRecord} from '../config/state';
import type {Desired} from './desired';
import type {DaemonLog} from './log';
import type {Metrics} from './metrics';

/** One declared piece of capacity, from an operator record or a [region] section. */
export interface Declaration {
  key: string;
  /** Who declared it, for the log and STATUS. */
  by: string;
  /** From the config: made again only once per daxramd run even if it goes (no record to drop). */
  config: boolean;
  /** CXL: the memdevs' serial numbers. */
  memdevs?: bigint[];
  /** hmem: the range's start. */
  start?: bigint;
  /** CXL: the region's size; hmem: the size the range had (undefined: whatever it is). */
  size?: bigint;
  /** System RAM from the start; undefined: all of it. */
  ram?: bigint;
  zone: Zone;
  online: boolean;
}

export type DeclaredStateName = 'waiting' | 'present' | 'made' | 'differs' | 'failed' | 'gone';

/** What became of a declaration, for STATUS (`daxram status`: declared vs actual). */
export interface DeclaredState {
  state: DeclaredStateName;
  by: string;
  /** What was declared, in words. */
  declared: string;
  /** The region or range that holds it now (region0, hmem.1), when there is one. */
  region?: string;
  detail: string;
}

/** Operator records first (the CLI's decision wins until `daxram forget`), then [region] sections. */
export function declarationsOf(cfg: Config, records: OperatorRecord[]): Declaration[] {
  const out: Declaration[] = [];
  for (const r of records) {
    const by = `daxram ${r.action} at ${r.at}`;
    const common = {key: r.key, by, config: false, zone: r.zone ?? 'movable', ram: r.ram === undefined ? undefined : BigInt(r.ram)} as const;
    if (keyKind(r.key) === 'cxl' && r.memdevs && r.size) out.push({...common, memdevs: r.memdevs.map((m) => BigInt(m)), size: BigInt(r.size), online: r.mode === 'ram' && r.online !== false});
    else if (keyKind(r.key) === 'hmem' && r.size && r.ram !== undefined) out.push({...common, start: hmemKeyStart(r.key), size: BigInt(r.size), online: r.online !== false});
  }
  for (const g of cfg.regions) {
    if (out.some((d) => d.key === g.key)) continue;
    out.push({key: g.key, by: `[region ${g.label}] ${g.source.file}:${g.source.line}`, config: true, memdevs: g.memdevs, start: g.range, size: g.size, ram: g.ram, zone: g.zone, online: g.online});
  }
  return out;
}

export function describeDeclaration(d: Declaration): string {
  const what = d.memdevs ? `CXL region over memdev serial ${d.memdevs.map(hex).join(', ')}, ${d.size === undefined ? 'all their free capacity' : humanSize(d.size)}` : `soft-reserved range at ${hex(d.start!)}${d.size === undefined ? '' : `, ${humanSize(d.size)}`}`;
  const ram = d.ram === undefined ? 'all System RAM' : d.ram === 0n ? 'all devdax' : `${humanSize(d.ram)} System RAM, the rest devdax`;
  return `${what}: ${ram}${d.ram !== 0n ? ` (${d.online ? `online, ${d.zone}` : 'left offline'})` : ''}`;
}

export interface LaidOutDevices {
  /** What the devices of regions laid out as declared want, by dax device. */
  wanted: Map<string, Desired>;
  /** Regions and ranges (dax region owners) not laid out as declared: their devices are left as they are, and why. */
  leave: Map<string, string>;
}

interface Deps {
  context: () => Context;
  log: DaemonLog;
  metrics: Metrics;
  /**
   * The declaration of `key` as the records and the config say now (undefined: dropped, or the
   * records cannot be read): a `daxram release` drops its declaration before the teardown, and a
   * `daxram reassign` changes it inside its transition, while daxramd waits for the lock.
   */
  declarationNow: (key: string) => Declaration | undefined;
}

export class DeclaredCapacity {
  /** By declaration key: what became of it, for STATUS. */
  readonly status = new Map<string, DeclaredState>();
  /** Declarations this run has split: a layout undone since waits for the operator. */
  private readonly splitDone = new Set<string>();

  constructor(private readonly deps: Deps) {}

  /** Lay out what is declared and not there; say what each device of a declared region wants. */
  async layOut(decls: Declaration[]): Promise<LaidOutDevices> {
    for (const k of this.status.keys()) if (!decls.some((d) => d.key === k)) this.status.delete(k);
    for (const k of this.splitDone) if (!decls.some((d) => d.key === k)) this.splitDone.delete(k);
    const out: LaidOutDevices = {wanted: new Map(), leave: new Map()};
    const cxl = decls.filter((d) => d.memdevs);
    let topo: CxlTopology | undefined;
    if (cxl.length) {
      try {
        topo = scanCxl(this.deps.context().sysfs);
      } catch (e) {
        this.deps.log.error(`declared CXL regions: cannot read the CXL topology: ${describeError(e)}`);
      }
    }
    for (const d of decls) {
      try {
        if (d.memdevs) {
          if (topo) await this.cxlRegion(d, topo, out);
        } else await this.hmemRange(d, out);
      } catch (e) {
        this.deps.log.error(`declared ${d.key}: ${describeError(e)}`);
      }
    }
    return out;
  }

  /** Declarations waiting for their memdevs or range: the device-timeout wait at start counts them. */
  waiting(): string[] {
    return [...this.status].filter(([, s]) => s.state === 'waiting').map(([k]) => k);
  }

  private set(d: Declaration, state: DeclaredStateName, detail: string, region?: string): void {
    this.status.set(d.key, {state, by: d.by, declared: describeDeclaration(d), region, detail});
  }

  private async cxlRegion(d: Declaration, topo: CxlTopology, out: LaidOutDevices): Promise<void> {
    const before = this.status.get(d.key);
    // A memdev counts once cxl_mem has attached its endpoint: a region needs its decoders.
    const names = d.memdevs!.map((serial) => topo.memdevs.find((m) => m.serial === serial && m.endpoint)?.name);
    const missing = d.memdevs!.filter((_, i) => names[i] === undefined);
    if (missing.length) {
      this.set(d, 'waiting', `no memdev with serial ${missing.map(hex).join(', ')}: nothing is made, the others' capacity is left alone`);
      return;
    }
    const memdevs = names as string[];
    // The region over exactly these memdevs, by their serials: whatever the kernel named it.
    const there = topo.regions.find((r) => liveCxlRegionKey(topo, r) === d.key);
    if (there) {
      if (d.size !== undefined && there.size !== d.size) {
        // Committed by firmware, or made by hand: adopted, never torn down to match.
        this.set(d, 'differs', `${there.name} over ${memdevs.join(',')} is ${humanSize(there.size)}, not ${humanSize(d.size)}: adopted as it is, its layout left alone`, there.name);
        return;
      }
      if (!there.daxRegion) {
        this.set(d, 'present', `${there.name} has no dax region (not bound to cxl_region): its layout is left alone`, there.name);
        return;
      }
      await this.split(d, there.daxRegion, there.name, before, false, out);
      return;
    }
    // Gone since this run saw it: released by the operator (a record is dropped first; a
    // [region] section cannot be), so it is not made again before the next boot.
    if (before && ['present', 'made'].includes(before.state) && before.region) {
      this.set(d, 'gone', `${before.region} is gone since daxramd saw it; made again at the next boot${d.config ? ' (remove the [region] section to stop that)' : ''}`);
      return;
    }
    if (before && ['failed', 'gone'].includes(before.state)) return;
    const split = d.ram !== undefined;
    const over = memdevs.join(',');
    let region: string;
    try {
      const ctx = this.deps.context();
      const stillWanted = () => this.changed(d) ?? (scanCxl(ctx.sysfs).regions.some((r) => memdevs.some((m) => r.memdevs.includes(m))) ? `a region over ${over} was made meanwhile` : undefined);
      const r = await provisionCxl({...ctx, stillWanted}, memdevs, {size: d.size, online: !split && d.online, zone: d.zone});
      region = r.region;
    } catch (e) {
      if (!isCancelled(e)) this.fail(d, over, 'restore-region', `cannot make the region over ${over}: ${describeError(e)}`);
      return;
    }
    this.deps.log.notice(`made ${region} over ${over}, as ${d.by} declared it`, region);
    this.set(d, 'made', `made over ${over}`, region);
    const dr = scanCxl(this.deps.context().sysfs).regions.find((x) => x.name === region)?.daxRegion;
    if (!dr) {
      if (split) this.fail(d, region, 'restore-layout', `${region} has no dax region after provision: its RAM part is not split off`);
      return;
    }
    // Made just now for a split, its blocks never online: nothing in it to zero before the split.
    await this.split(d, dr, region, this.status.get(d.key), split || !d.online, out);
  }

  private async hmemRange(d: Declaration, out: LaidOutDevices): Promise<void> {
    const at = hmemRegionAt(this.deps.context(), d.start!, d.ram);
    if (!at) {
      this.set(d, 'waiting', `no soft-reserved range starts at ${hex(d.start!)}`);
      return;
    }
    if (d.size !== undefined && at.size !== d.size) {
      this.set(d, 'differs', `${at.name} is ${humanSize(at.size)}, the declaration says ${humanSize(d.size)}: left as it is (daxram forget ${d.key}, or reassign it again)`, at.name);
      out.leave.set(at.name, `${at.name} is not the range ${d.by} split (${d.key})`);
      return;
    }
    await this.split(d, at.name, at.name, this.status.get(d.key), false, out, at);
  }

  /**
   * The dax region `owner` (dax_regionN, hmem.N) of the declared region `region`: laid out as
   * declared (then its devices want what the declaration says), else split once per run.
   */
  private async split(d: Declaration, owner: string, region: string, before: DeclaredState | undefined, fresh: boolean, out: LaidOutDevices, now?: LaidOut): Promise<void> {
    const ctx = this.deps.context();
    let lay = now ?? daxRegionLayout(ctx, owner, d.ram);
    if (!lay.laidOut) {
      if ((before && ['failed', 'gone'].includes(before.state)) || this.splitDone.has(d.key)) {
        // Once per run: a split that failed, or that something undid since, waits for the operator.
        out.leave.set(owner, `${region} is not laid out as ${d.by} declared (${d.key}): ${before!.detail}`);
        return;
      }
      try {
        const stillWanted = () => this.changed(d) ?? (daxRegionLayout(ctx, owner, d.ram).laidOut ? `${region} was laid out meanwhile` : undefined);
        await reassignDax({...ctx, stillWanted}, owner, d.ram ?? lay.wholeRam, {online: false, zone: d.zone, zero: fresh ? false : undefined});
      } catch (e) {
        if (isCancelled(e)) return;
        this.fail(d, region, 'restore-layout', `cannot split ${region} as declared: ${describeError(e)}`, region);
        out.leave.set(owner, `its declared layout (${d.key}) failed: ${describeError(e)}`);
        return;
      }
      this.deps.log.notice(`split ${region} as ${d.by} declared it: ${d.ram === undefined ? 'all' : humanSize(d.ram)} System RAM, the rest devdax`, region);
      this.splitDone.add(d.key);
      this.set(d, fresh ? 'made' : 'present', `split: ${d.ram === undefined ? 'all' : humanSize(d.ram)} System RAM`, region);
      lay = daxRegionLayout(ctx, owner, d.ram);
    } else if (!before || before.state === 'waiting') {
      this.set(d, 'present', `laid out as declared`, region);
    }
    const source = `${d.by} (${d.key})`;
    if (lay.ram) out.wanted.set(lay.ram, {mode: 'ram', zone: d.zone, online: d.online, source, gates: {}});
    if (lay.devdax) out.wanted.set(lay.devdax, {mode: 'devdax', zone: d.zone, online: false, source, gates: {}});
  }

  /** Why `d` is no longer what is declared, if it changed since this reconcile read it. */
  private changed(d: Declaration): string | undefined {
    const now = this.deps.declarationNow(d.key);
    if (!now) return `${d.key} is no longer declared`;
    if (now.ram !== d.ram || now.size !== d.size || now.online !== d.online || now.zone !== d.zone) return `${d.key} changed while daxramd waited for the lock`;
    return undefined;
  }

  private fail(d: Declaration, device: string, operation: string, why: string, region?: string): void {
    this.set(d, 'failed', why, region);
    this.deps.metrics.failure(device, operation);
    this.deps.log.error(`${d.key} (${d.by}): ${why}`);
  }
}


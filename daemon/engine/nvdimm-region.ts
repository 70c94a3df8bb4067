// Laying out an NVDIMM region, the transition behind `provision` (an empty region) and
// `reassign` (move a region's capacity between RAM and devdax). Both compute the layout first
// (nvdimm-layout.ts), then speak libnvdimm's sysfs ABI the way ndctl does — a namespace seed
// gets a uuid and a size (which allocates the capacity and writes the labels), a dax seed gets
// a uuid, a map location, an align and the namespace, and binding the dax seed to dax_pmem
// creates the device-dax device — and finally hand the RAM device to online(). Tearing down is
// the reverse: every RAM device offlined (and zeroed) first, the claim released, the namespace
// sized to 0.

import {KernelError, PolicyError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {kmemCapacity} from '../model/dax';
import {readSeeds} from '../model/region';
import {ndDriver, readNamedUuid} from '../model/namespace';
import {readBlockSize} from '../model/hotplug';
import {scanRegion} from '../model/scan';
import {ND_DRIVERS} from '../model/bus';
import type {DaxDevice, Namespace, Region} from '../model/types';
import type {Context} from './context';
import {evaluateGates, reservationOf, type GateResult} from '../policy/gates';
import {dimmSecurity, unknownMce} from '../policy/sources';
import {layoutRegion, describeLayout, type Layout, type PlannedNamespace} from './nvdimm-layout';
import {newPlan, sysfsStep, type Plan, type SysfsStep} from './plan';
import {Journal, LAYOUT_JOURNAL, newJournalEntry} from './journal';
import {confirmDecision, decisionArgs, recordDecision, type Decision} from './intent';
import {runPlan} from './exec';
import type {OnlineOptions} from './online';
import {deviceRunner} from './device-runner';

export interface LayoutOptions {
  /** RAM capacity wanted (bytes); undefined = as much as the region allows. */
  ram?: bigint;
  /** Destroy namespaces that are not devdax (fsdax, sector, raw: may hold a filesystem). */
  force?: boolean;
  /** Online the new RAM device (default true). */
  online?: boolean;
  zone?: OnlineOptions['zone'];
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export interface LayoutResult {
  region: string;
  dryRun: boolean;
  plan: Plan;
  layout: Layout;
  /** kmem capacity before and after (bytes). */
  before: bigint;
  ramDevice?: string;
  devices: {namespace: string; dax?: string; role: string; size: bigint}[];
}

/** Does the region already hold exactly this layout (after an interrupted run, or a no-op)? */
function matches(r: Region, l: Layout): boolean {
  if (r.namespaces.length !== l.namespaces.length) return false;
  return r.namespaces.every((n, i) => n.resource === l.namespaces[i].start && n.size === l.namespaces[i].size && n.mode === 'devdax' && n.daxDevices.length === 1);
}

/** What kmem can online of the region's dax devices now. */
function kmemNow(r: Region, bs: bigint): bigint {
  return r.daxDevices.reduce((a, d) => a + kmemCapacity(d.ranges, bs).bytes, 0n);
}

const daxOf = (n: Namespace): DaxDevice[] => n.daxDevices;

export function planLayout(ctx: Context, op: 'provision' | 'reassign', region: string, o: LayoutOptions): {plan: Plan; layout: Layout; r: Region; before: bigint} {
  const r = scanRegion(ctx.sysfs, region);
  if (r.labelless) {
    throw new UsageError(`${region} is label-less: its capacity is one raw namespace that cannot be divided`, {
      device: region,
      fix: `initialise the labels of its DIMMs once (ndctl init-labels; then re-enable ${region}), then run this again`,
    });
  }
  const bs = readBlockSize(ctx.sysfs);
  if (o.ram !== undefined && o.ram > r.size) throw new UsageError(`--ram ${humanSize(o.ram)} is larger than ${region} (${humanSize(r.size)})`, {device: region, fix: `the most RAM ${region} can give is ${humanSize(r.size - bs)}`});
  const layout = layoutRegion({start: r.resource, size: r.size, align: r.align || 16n << 20n}, bs, o.ram);
  if (o.ram !== undefined && layout.ramBytes < ((o.ram + bs - 1n) / bs) * bs) {
    throw new UsageError(`${region} cannot give ${humanSize(o.ram)} of RAM: at most ${humanSize(layout.target)} (one ${humanSize(bs)} block goes to alignment and the info block)`, {device: region});
  }
  const before = kmemNow(r, bs);
  const plan = newPlan(op, region, `${op} ${region}: ${humanSize(layout.ramBytes)} System RAM + ${humanSize(layout.namespaces.filter((n) => n.role === 'devdax').reduce((a, n) => a + n.dataEnd - n.dataStart, 0n))} devdax (kmem capacity now ${humanSize(before)})`);
  plan.notes.push(...describeLayout(layout));
  plan.expect = {ramBytes: layout.ramBytes, namespaces: layout.namespaces.length};

  if (op === 'provision' && r.namespaces.length) {
    throw new UsageError(`${region} already has namespace(s) ${r.namespaces.map((n) => n.name).join(', ')}`, {device: region, fix: `use daxram reassign ${region} --ram SIZE to change an existing layout`});
  }
  const same = matches(r, layout);
  if (same) {
    plan.notes.push(`${region} already has this layout: nothing to destroy or create`);
    // Same namespaces, different roles (provision, then reassign --ram 0): a device the layout
    // keeps devdax may still be System RAM, and must come back from the allocator.
    for (const n of r.namespaces) {
      if (layout.namespaces.find((p) => p.start === n.resource)?.role === 'ram') continue;
      for (const d of daxOf(n)) if (d.driver === 'kmem') plan.steps.push({kind: 'engine', call: 'offline', device: d.name, why: `${d.name} is System RAM but this layout keeps it devdax: offline, back to devdax and zero it`});
    }
  } else {
    for (const n of r.namespaces) {
      // A reservation keeps a device out of RAM *and* keeps its contents (a crash-surviving
      // trace buffer): reassign must not destroy it either.
      const hit = reservationOf(ctx.policy, [region, n.name, ...daxOf(n).map((d) => d.name), n.uuid, n.claimUuid]);
      if (hit) {
        throw new PolicyError(`${op} ${region} would destroy ${n.name}${daxOf(n).length ? ` (${daxOf(n).map((d) => d.name).join(', ')})` : ''}, which is reserved (${hit.by})`, {
          device: daxOf(n)[0]?.name ?? n.name,
          code: 'GATE_RESERVED',
          fix: hit.fix,
        });
      }
      if (n.mode !== 'devdax' && !o.force) {
        throw new UsageError(`${n.name} in ${region} is in ${n.mode} mode and may hold a filesystem`, {device: n.name, fix: 'unmount and destroy it yourself, or pass --force to let reassign destroy it'});
      }
    }
    plan.notes.push(...r.namespaces.map((n) => `  destroy ${n.name} (${humanSize(n.size)}, ${n.mode}${daxOf(n).length ? `, ${daxOf(n).map((d) => `${d.name}: ${d.driver === 'kmem' ? 'system-ram' : d.driver ?? 'no driver'}`).join(', ')}` : ''})`));
    for (const n of r.namespaces) for (const d of daxOf(n)) if (d.driver === 'kmem') plan.steps.push({kind: 'engine', call: 'offline', device: d.name, why: `${d.name} is System RAM: offline, back to devdax and zero it before its namespace goes away`});
    for (const n of r.namespaces) plan.steps.push(...destroySteps(ctx, r, n.name, n.holder, n.driver));
    layout.namespaces.forEach((p, i) => plan.steps.push(...createSteps(ctx, r, p, i)));
  }
  const ram = layout.namespaces.findIndex((n) => n.role === 'ram');
  if (ram >= 0 && o.online !== false) {
    plan.steps.push({
      kind: 'engine',
      call: 'online',
      device: `<dax device of the RAM namespace>`,
      why: 'online the RAM namespace through the gates, like daxram online',
      resolveDevice: () => ramDevice(ctx, region, layout.namespaces[ram]),
    });
  }
  return {plan, layout, r, before};
}

function destroySteps(ctx: Context, r: Region, ns: string, holder: string | undefined, driver: string | undefined): SysfsStep[] {
  const steps: SysfsStep[] = [];
  const nsDir = `${r.dir}/${ns}`;
  if (holder) {
    const hDir = `${r.dir}/${holder}`;
    const drv = ndDriver(ctx.sysfs, hDir);
    // A bound device has a link of its name in its driver's directory.
    if (drv) steps.push(sysfsStep(`${ND_DRIVERS}/${drv}`, drv, 'unbind', holder, ns, `disable ${holder}: its device-dax devices go away`, {gone: {path: `${ND_DRIVERS}/${drv}/${holder}`, why: `${holder} is disabled`}, mark: 'destroy'}));
    steps.push(sysfsStep(hDir, holder, 'namespace', '\n', ns, `release ${holder}'s claim on ${ns}`, {already: `${holder} claims nothing`}));
  }
  if (driver) steps.push(sysfsStep(`${ND_DRIVERS}/${driver}`, driver, 'unbind', ns, ns, `disable ${ns} (it has no claim; it was exposed as a raw/pmem block device)`, {gone: {path: `${ND_DRIVERS}/${driver}/${ns}`, why: `${ns} is disabled`}}));
  steps.push(sysfsStep(nsDir, ns, 'size', '0', ns, `free ${ns}'s capacity (deletes its labels)`, {already: `${ns} is already empty`}));
  return steps;
}

function createSteps(ctx: Context, r: Region, p: PlannedNamespace, i: number): SysfsStep[] {
  // The seeds the kernel will offer when this step runs; for the first they are the current ones.

  const nsName = i === 0 && r.namespaces.length === 0 ? r.namespaceSeed ?? '<namespace_seed>' : `<${r.name}/namespace_seed>`;
  const daxName = i === 0 && r.namespaces.length === 0 ? r.daxSeed ?? '<dax_seed>' : `<${r.name}/dax_seed>`;
  // One namespace and one dax seed are pinned for all of this namespace's steps.
  let pinned: {ns: string; dax: string} | undefined;
  const pin = (fresh = false) => {
    if (fresh || !pinned) {
      const s = readSeeds(ctx.sysfs, r.dir, r.name);
      pinned = {ns: s.namespace, dax: s.dax};
    }
    return pinned;
  };
  const onNs = (fresh?: boolean) => ({objectDir: `${r.dir}/${pin(fresh).ns}`, object: pin().ns});
  const onDax = () => ({objectDir: `${r.dir}/${pin().dax}`, object: pin().dax});
  const named = namedBy(ctx);
  const nsUuid = newUuid();
  const daxUuid = newUuid();
  const label = i === 0 && r.namespaces.length === 0 && r.namespaceSeed ? r.namespaceSeed : `${r.name} (${p.role} namespace)`;
  const nsDir = `${r.dir}/${nsName}`;
  const daxDir = `${r.dir}/${daxName}`;
  return [
    // A uuid is only written once: a seed left named by an interrupted run keeps its name (the
    // kernel refuses a rename with EBUSY once labels exist).
    sysfsStep(nsDir, nsName, 'uuid', nsUuid, label, `name the ${label}`, {resolve: onNs, retryVanished: true, mark: i === 0 ? 'create' : undefined, skip: () => named(`${r.dir}/${pin().ns}`)}),
    sysfsStep(nsDir, nsName, 'size', String(p.size), label, `allocate ${humanSize(p.size)} at 0x${p.start.toString(16)} (the next free capacity) and write the labels`, {resolve: onNs}),
    sysfsStep(nsDir, nsName, 'holder_class', 'dax', label, 'record in the labels that this namespace is devdax (survives reboot)', {resolve: onNs}),
    sysfsStep(daxDir, daxName, 'uuid', daxUuid, label, 'name the dax info block', {resolve: onDax, skip: () => named(`${r.dir}/${pin().dax}`)}),
    sysfsStep(daxDir, daxName, 'mode', p.map === 'dev' ? 'pmem' : 'ram', label, p.why, {resolve: onDax}),
    sysfsStep(daxDir, daxName, 'align', String(p.align), label, `device-dax align ${humanSize(p.align)}`, {resolve: onDax}),
    sysfsStep(daxDir, daxName, 'namespace', nsName, label, 'claim the namespace', {resolve: () => ({...onDax(), value: pin().ns})}),
    sysfsStep(`${ND_DRIVERS}/dax_pmem`, 'dax_pmem', 'bind', daxName, label, 'enable: dax_pmem writes the info block and creates the device-dax device', {
      resolve: () => ({objectDir: `${ND_DRIVERS}/dax_pmem`, object: 'dax_pmem', value: pin().dax}),
    }),
  ];
}

/** A uuid is written once: a seed an interrupted run named keeps its name. */
function namedBy(ctx: Context) {
  return (dir: string): string | undefined => {
    const u = readNamedUuid(ctx.sysfs, dir);
    return u ? `already named ${u}` : undefined;
  };
}

/** The device-dax device of the namespace planned at p.start (after creation). */
export function ramDevice(ctx: Context, region: string, p: PlannedNamespace): string {
  const r = scanRegion(ctx.sysfs, region);
  const n = r.namespaces.find((x) => x.resource === p.start && x.size === p.size);
  const d = n?.daxDevices[0]?.name;
  if (!d) {
    throw new KernelError(`${region}: no device-dax device appeared for the RAM namespace at 0x${p.start.toString(16)}`, {device: region, fix: 'see dmesg for dax_pmem errors; daxram recover retries the layout'});
  }
  return d;
}

export function layoutRegionOf(ctx: Context, region: string, o: LayoutOptions): Layout {
  const r = scanRegion(ctx.sysfs, region);
  return layoutRegion({start: r.resource, size: r.size, align: r.align || 16n << 20n}, readBlockSize(ctx.sysfs), o.ram);
}

/**
 * The gates of the RAM device-to-be that the region already decides: reserved (region, or an
 * emulator bus), machine-check recovery and DIMM security. Residual poison needs the device's
 * own range scrubbed, so it is gated when the device is onlined, after the layout exists.
 */
export async function preflightGates(ctx: Context, region: string, layout: Layout, o: LayoutOptions): Promise<GateResult[]> {
  if (o.online === false || !layout.namespaces.some((n) => n.role === 'ram')) return [];
  const r = scanRegion(ctx.sysfs, region);
  const busDir = r.dir.slice(0, r.dir.lastIndexOf('/'));
  // The RAM device-to-be, as far as the region decides it: its origin is this region.
  const dev = {name: region, uuids: {}, ranges: [], origin: {real: r.dir, kind: 'nvdimm' as const, bus: r.bus.name, busDir, region, regionDir: r.dir}} as unknown as DaxDevice;
  const provider = r.bus.provider;
  const none = {scrubSupported: false, found: [], cleared: [], remaining: [], source: 'scrubbed when the RAM device is onlined'};
  const mce = await (ctx.mce ?? unknownMce)();
  return evaluateGates({dev, policy: ctx.policy, poison: none, mce, security: dimmSecurity(ctx.sysfs, dev), provider}).filter((g) => g.gate !== 'residual-poison' && g.gate !== 'poison-scan');
}

/** Under the lock. Also the forward path of recover() for an interrupted layout. */
export async function doLayout(ctx: Context, op: 'provision' | 'reassign', region: string, o: LayoutOptions, gates: GateResult[] = []): Promise<LayoutResult> {
  const {plan, layout, before} = planLayout(ctx, op, region, o);
  plan.gates = gates;
  const subject = {kind: 'nvdimm-region', region} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = new Journal(ctx.stateDir, LAYOUT_JOURNAL);
  const intent = newJournalEntry(op, region, {ram: o.ram?.toString(), force: o.force, online: o.online !== false, zone: o.zone, ...decisionArgs(o.decision)}, plan.steps.length);
  // A recovering run may be re-planned from a half-destroyed region: op reassign is the general one.
  if (op === 'provision') intent.op = 'reassign';
  try {
    await runPlan(ctx, plan, {
      journal,
      intent,
      engine: deviceRunner(ctx, o.zone),
    });
  } catch (e) {
    // The layout is in place and only a gate refused the online: nothing to converge.
    if (e instanceof PolicyError) journal.clear();
    throw e;
  }
  const r = scanRegion(ctx.sysfs, region);
  if (!matches(r, layout)) {
    throw new KernelError(`${region} does not hold the planned layout after ${op}: ${r.namespaces.map((n) => `${n.name} 0x${n.resource?.toString(16)}+${n.size}`).join(', ')}`, {
      device: region,
      fix: 'daxram recover retries; see dmesg for libnvdimm errors',
    });
  }
  const result = layoutResult(ctx, region, plan, layout, before, false);
  confirmDecision(ctx, o.decision, subject, result);
  journal.clear();
  return result;
}

export function layoutResult(ctx: Context, region: string, plan: Plan, layout: Layout, before: bigint, dryRun: boolean): LayoutResult {
  const r = scanRegion(ctx.sysfs, region);
  const devices = r.namespaces.map((n) => ({namespace: n.name, dax: n.daxDevices[0]?.name, role: layout.namespaces.find((p) => p.start === n.resource)?.role ?? 'other', size: n.size}));
  return {region, dryRun, plan, layout, before, ramDevice: devices.find((d) => d.role === 'ram')?.dax, devices};
}

/** A namespace uuid; node:crypto is loaded here only, when a layout names a namespace (see util/atomic.ts). */
export function newUuid(): string {
  return (require('node:crypto') as typeof import('node:crypto')).randomUUID();
}

// CXL capacity as regions (designed by cxl-design.ts), through the kernel's region ABI (Documentation/ABI/testing/
// sysfs-bus-cxl), the way `cxl create-region` / `destroy-region` drive it:
//   provision memA[,memB…]: a root decoder's create_ram_region names a region; its interleave
//     granularity and ways are set; each memdev's next free endpoint decoder gets mode=ram and a
//     DPA allocation (dpa_size); the region gets its HPA size and its targets in interleave
//     position order; commit programs every decoder on the path; binding cxl_region makes the
//     dax region and its device; the device is then onlined through the gates like any other.
//   release regionN: every System RAM device of it offlined and zeroed; commit 0 resets the
//     decoders (and unbinds the region); the targets are detached, their DPA freed, and the
//     region deleted from its root decoder: the memdevs' capacity is free again.
// Both journal their intent. A run stopped anywhere converges: a region that was committed
// goes forward (bound and onlined), anything less is torn down, and DPA left allocated by a
// run that never got as far as a region is freed. After a reset the platform has dropped what
// the OS programmed, and the journal only says so.
//
// One file over 300 lines: both transitions and their recovery, which must agree on the order
// of decoder operations; the region's design is cxl-design.ts.

import {KernelError, NotFoundError, PolicyError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {CXL_DEVICES, CXL_DRIVERS, cxlDriverLoaded, cxlRegionBound, cxlRegionDaxDir, readNextRamRegion, scanCxl} from '../model/cxl/scan';
import type {CxlDecoder, CxlRegion, CxlTopology} from '../model/cxl/types';
import {findDaxRegion, readDaxRegion} from '../model/dax-region';
import {optBig} from '../model/attr';
import {daxDriver, daxDriverDir, daxDriverLoaded} from '../model/dax';
import {readAutoOnline} from '../model/hotplug';
import {listMemBlockIds} from '../model/memblock';
import {reservationOf} from '../policy/gates';
import type {Context} from './context';
import {newPlan, sysfsStep, type Plan, type SysfsStep} from './plan';
import {Journal, LAYOUT_JOURNAL, newJournalEntry, type JournalEntry} from './journal';
import {abandonDecision, confirmDecision, decisionArgs, decisionOf, recordDecision, type Decision} from './intent';
import {runPlan} from './exec';
import {doOnline, type OnlineResult} from './online';
import {deviceRunner} from './device-runner';
import {giveBackHeldPolicy, heldPolicyArgs, policyToTake, restoreHotplug, restorePolicyStep, takePolicyStep} from './hotplug-policy';
import type {ZoneRequest} from './zone';
import {designCxlRegion, type CxlDesign} from './cxl-design';

export interface CxlProvisionOptions {
  /** Region size (bytes); default: all free volatile capacity the memdevs have in common. */
  size?: bigint;
  online?: boolean;
  zone?: ZoneRequest;
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export interface CxlRegionResult {
  op: 'provision' | 'release';
  dryRun: boolean;
  plan: Plan;
  region: string;
  rootDecoder: string;
  memdevs: string[];
  ways: number;
  granularity: number;
  size: bigint;
  resource?: bigint;
  daxDevice?: string;
  online?: OnlineResult;
  /** release: capacity given back, per memdev. */
  freed?: {memdev: string; decoder: string; bytes: bigint}[];
}

/** A region's or decoder's directory on the cxl bus. */
const cxlDir = (name: string) => `${CXL_DEVICES}/${name}`;
/** A size attribute re-read at run time; 0 when it is gone (the object went with it). */
const sizeNow = (ctx: Context, p: string, name: string): bigint => optBig(ctx.sysfs, p, name) ?? 0n;

/** The dax device of a bound region, waiting the moment the kernel takes to create it. */
export async function regionDaxDevice(ctx: Context, region: string, waitMs = 10_000): Promise<string> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const dir = cxlRegionDaxDir(ctx.sysfs, region);
    if (dir) {
      const d = readDaxRegion(ctx.sysfs, dir);
      const dev = d.devices.find((x) => sizeNow(ctx, `${d.ownerDir}/${x}/size`, x) > 0n);
      if (dev) return dev;
    }
    if (Date.now() > deadline) {
      throw new KernelError(`${region}: no dax device appeared after binding cxl_region`, {device: region, fix: 'is dax_cxl loaded (modprobe dax_cxl)? see dmesg; daxram recover finishes or tears down the region'});
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function planCxlProvision(ctx: Context, memdevs: string[], o: CxlProvisionOptions): {plan: Plan; design: CxlDesign; topo: CxlTopology} {
  const topo = scanCxl(ctx.sysfs);
  const design = designCxlRegion(topo, memdevs, o);
  const label = memdevs.join(',');
  const plan = newPlan('provision', label, `provision ${label} → CXL RAM region ${design.region}: ${humanSize(design.size)}, ${design.ways} way(s)${o.online === false ? '' : ', then online it'}`);
  plan.notes.push(...design.notes);
  let region = design.region;
  const onRegion = () => ({objectDir: cxlDir(region), object: region});
  const rootDir = cxlDir(design.rootDecoder);
  const regionStep = (attr: string, value: string, why: string, extra: Partial<SysfsStep> = {}) => sysfsStep(cxlDir(design.region), design.region, attr, value, label, why, {resolve: onRegion, ...extra});

  // dax_cxl turns the bound region into a dax region; kmem must be there before the bind so
  // the device is claimed inside the bind, while the hot-add policy is held.
  if (!cxlDriverLoaded(ctx.sysfs, 'cxl_dax_region')) plan.steps.push({kind: 'modprobe', module: 'dax_cxl', device: label, why: 'dax_cxl makes a dax region of a bound CXL RAM region', present: `${CXL_DRIVERS}/cxl_dax_region`});
  if (!daxDriverLoaded(ctx.sysfs, 'kmem')) plan.steps.push({kind: 'modprobe', module: 'kmem', device: label, why: 'kmem hot-adds the region as System RAM', present: daxDriverDir('kmem')});
  const hold = o.online !== false || o.zone !== 'auto' ? policyToTake(ctx) : undefined;
  if (hold) {
    plan.notes.push(`auto_online_blocks is "${hold}": since 6.3 kmem claims a new CXL region's device by itself, so daxram holds the policy at "offline" until the region has been checked and onlined`);
    plan.steps.push(takePolicyStep(ctx, label, hold));
  }
  plan.steps.push(
    sysfsStep(rootDir, design.rootDecoder, 'create_ram_region', design.region, label, `name a new RAM region under ${design.rootDecoder}`, {
      // Another creator may have taken the name meanwhile: take the one offered now.
      resolve: () => {
        region = readNextRamRegion(ctx.sysfs, design.rootDecoder) || region;
        return {objectDir: rootDir, object: design.rootDecoder, value: region};
      },
      mark: 'create',
    }),
    regionStep('interleave_granularity', String(design.granularity), `${design.granularity}-byte interleave granularity`),
    regionStep('interleave_ways', String(design.ways), `${design.ways}-way interleave`),
  );
  for (const t of design.targets) {
    const dir = cxlDir(t.decoder);
    plan.steps.push(
      sysfsStep(dir, t.decoder, 'mode', 'ram', t.memdev, `${t.decoder} maps ${t.memdev}'s volatile partition`, {already: `${t.decoder} is in ram mode`}),
      sysfsStep(dir, t.decoder, 'dpa_size', String(design.perDevice), t.memdev, `allocate ${humanSize(design.perDevice)} of ${t.memdev}'s device capacity`, {mark: 'decoders'}),
    );
  }
  plan.steps.push(regionStep('size', String(design.size), `allocate ${humanSize(design.size)} of host address space in ${design.rootDecoder}'s window`));
  for (const t of design.targets) {
    plan.steps.push(regionStep(`target${t.position}`, t.decoder, `${t.memdev} (${t.decoder}) at interleave position ${t.position}`));
  }
  plan.steps.push(
    regionStep('commit', '1', 'program and commit every decoder on the path (endpoints, host bridge)', {mark: 'commit'}),
    sysfsStep(`${CXL_DRIVERS}/cxl_region`, 'cxl_region', 'bind', design.region, label, 'bind cxl_region: the region becomes a dax region with one device', {
      resolve: () => ({objectDir: `${CXL_DRIVERS}/cxl_region`, object: 'cxl_region', value: region}),
      skip: () => (cxlRegionBound(ctx.sysfs, region) ? `${region} is bound` : undefined),
      mark: 'bind',
    }),
  );
  if (o.online !== false) {
    plan.steps.push({kind: 'engine', call: 'online', device: `<dax device of ${design.region}>`, why: 'scrub/check its poison, gate and online it, like daxram online', resolveDevice: () => region});
  }
  if (hold) plan.steps.push(restorePolicyStep(label, hold, listMemBlockIds(ctx.sysfs), []));
  return {plan, design, topo};
}

function journalFor(ctx: Context): Journal {
  return new Journal(ctx.stateDir, LAYOUT_JOURNAL);
}

export async function dryCxlProvision(ctx: Context, memdevs: string[], o: CxlProvisionOptions): Promise<CxlRegionResult> {
  const {plan, design} = planCxlProvision(ctx, memdevs, o);
  return {op: 'provision', dryRun: true, plan, region: design.region, rootDecoder: design.rootDecoder, memdevs, ways: design.ways, granularity: design.granularity, size: design.size};
}

/** Under the lock. */
export async function doCxlProvision(ctx: Context, memdevs: string[], o: CxlProvisionOptions): Promise<CxlRegionResult> {
  const {plan, design} = planCxlProvision(ctx, memdevs, o);
  const subject = {kind: 'cxl-region', memdevs, size: design.size} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = journalFor(ctx);
  const held = plan.steps.find((s) => s.kind === 'hotplug-restore');
  const intent = newJournalEntry('cxl-provision', design.region, {memdevs, decoders: design.targets.map((t) => t.decoder), rootDecoder: design.rootDecoder, size: design.size.toString(), online: o.online !== false, zone: o.zone, ...heldPolicyArgs(plan), ...decisionArgs(o.decision)}, plan.steps.length);
  let online: OnlineResult | undefined;
  let daxDevice: string | undefined;
  let region = design.region;
  try {
    await runPlan(ctx, plan, {
      journal,
      intent,
      engine: async (_call, r) => {
        region = r;
        daxDevice = await regionDaxDevice(ctx, r);
        online = await doOnline(ctx, daxDevice, {zone: o.zone}, {enforce: true});
      },
    });
  } catch (e) {
    if (held && held.kind === 'hotplug-restore' && readAutoOnline(ctx.sysfs) === 'offline') restoreHotplug(ctx, held.policy, new Set(held.before));
    // The region is made and only a gate refused its online: it stays, as devdax.
    if (e instanceof PolicyError) journal.clear();
    throw e;
  }
  if (!daxDevice && o.online === false) daxDevice = await regionDaxDevice(ctx, region);
  const r = scanCxl(ctx.sysfs).regions.find((x) => x.name === region);
  if (!r || r.decodeState !== 'commit') throw new KernelError(`${region} is not committed after provision`, {device: region, fix: 'see dmesg for cxl region errors; daxram recover tears it down'});
  confirmDecision(ctx, o.decision, subject, {devices: [{dax: daxDevice, role: o.online !== false ? 'ram' : 'devdax'}]});
  journal.clear();
  return {op: 'provision', dryRun: false, plan, region, rootDecoder: design.rootDecoder, memdevs, ways: design.ways, granularity: design.granularity, size: design.size, resource: r.resource, daxDevice, online};
}

/** extra: endpoint decoders an interrupted provision allocated before it attached them. */
export interface CxlReleaseOptions {
  /** false: System RAM devices are offlined but not zeroed (the operator says nothing in them matters). */
  zero?: boolean;
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export function planCxlRelease(ctx: Context, name: string, extra: string[] = [], o: CxlReleaseOptions = {}): {plan: Plan; r: CxlRegion; topo: CxlTopology; devices: string[]} {
  const zero = o.zero ?? true;
  if (!/^region\d+$/.test(name)) throw new UsageError(`"${name}" is not a CXL region name`, {device: name, fix: 'name a region like region0 (see daxram list --cxl)'});
  const topo = scanCxl(ctx.sysfs);
  const r = topo.regions.find((x) => x.name === name);
  if (!r) throw new NotFoundError('no such CXL region', {device: name, path: cxlDir(name), fix: `CXL regions present: ${topo.regions.map((x) => x.name).join(', ') || 'none'}`});
  if (r.mode !== 'ram') throw new UsageError(`${name} is a ${r.mode} region`, {device: name, fix: 'daxram releases RAM regions; a pmem region holds namespaces (use cxl destroy-region after ndctl)'});
  const root = topo.decoders.find((d) => d.name === r.rootDecoder);
  if (root?.locked) throw new UsageError(`${name} is under a locked root decoder (the platform programmed it)`, {device: name, fix: 'firmware-owned regions cannot be released by the OS'});
  // Its dax devices (none when it is not bound).
  const devices = r.daxRegion ? findDaxRegion(ctx.sysfs, r.name).devices : [];
  const hit = reservationOf(ctx.policy, [name, ...devices]);
  if (hit) throw new PolicyError(`release ${name} would destroy ${devices.join(', ') || name}, which is reserved (${hit.by})`, {device: devices[0] ?? name, code: 'GATE_RESERVED', fix: hit.fix});
  const eps = [...new Set([...r.targets, ...extra])].map((t) => topo.decoders.find((d) => d.name === t)).filter((d): d is CxlDecoder => !!d && (!d.region || d.region === name));
  const plan = newPlan('release', name, `release ${name}: ${humanSize(r.size)} back to ${r.memdevs.join(', ') || 'its memdevs'}`);
  for (const d of devices) {
    const drv = daxDriver(ctx.sysfs, d);
    plan.notes.push(`  ${d}: ${drv === 'kmem' ? `System RAM: offlined${zero ? ' and zeroed' : ' (not zeroed: --no-zero)'} first` : drv === 'device_dax' ? 'devdax: its contents go with the region' : 'no driver'}`);
    if (drv === 'kmem') plan.steps.push({kind: 'engine', call: 'offline', device: d, why: `${d} is System RAM: offline${zero ? ', zero' : ''}, back to devdax before the region goes`});
  }
  plan.steps.push(...teardownSteps(ctx, r.name, r.rootDecoder, eps.map((d) => d.name), r.interleaveWays));
  return {plan, r, topo, devices};
}

/** commit 0, detach targets, free DPA, delete: each step skipped when already so. */
function teardownSteps(ctx: Context, region: string, rootDecoder: string, decoders: string[], ways: number): SysfsStep[] {
  const rdir = cxlDir(region);
  const gone = {path: rdir, why: `${region} is gone`};
  const steps: SysfsStep[] = [
    sysfsStep(rdir, region, 'commit', '0', region, 'reset every decoder of the region (the kernel unbinds it first: its dax region goes)', {gone, already: `${region} is not committed`, mark: 'destroy'}),
  ];
  for (let i = ways - 1; i >= 0; i--) {
    steps.push(sysfsStep(rdir, region, `target${i}`, '\n', region, `detach position ${i}`, {gone, already: `position ${i} is empty`}));
  }
  for (const d of decoders) {
    const dir = cxlDir(d);
    steps.push(sysfsStep(dir, d, 'dpa_size', '0', region, `free ${d}'s device capacity`, {skip: () => (sizeNow(ctx, `${dir}/dpa_size`, d) === 0n ? `${d} holds no capacity` : undefined)}));
  }
  steps.push(sysfsStep(cxlDir(rootDecoder), rootDecoder, 'delete_region', region, region, `delete ${region} from ${rootDecoder}`, {gone}));
  return steps;
}

export function dryCxlRelease(ctx: Context, name: string, o: CxlReleaseOptions = {}): CxlRegionResult {
  const {plan, r} = planCxlRelease(ctx, name, [], o);
  return {op: 'release', dryRun: true, plan, region: name, rootDecoder: r.rootDecoder, memdevs: r.memdevs, ways: r.interleaveWays, granularity: r.interleaveGranularity, size: r.size, resource: r.resource};
}

/** Under the lock. */
export async function doCxlRelease(ctx: Context, name: string, o: CxlReleaseOptions = {}): Promise<CxlRegionResult> {
  const {plan, r, topo, devices} = planCxlRelease(ctx, name, [], o);
  // The declaration goes before the teardown starts: a daxramd woken by its uevents must not make the region again.
  const subject = {kind: 'cxl-release', region: name, devices} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = journalFor(ctx);
  const intent = newJournalEntry('cxl-release', name, {memdevs: r.memdevs, decoders: r.targets, rootDecoder: r.rootDecoder, ...decisionArgs(o.decision)}, plan.steps.length);
  await runPlan(ctx, plan, {
    journal,
    intent,
    engine: deviceRunner(ctx, undefined, undefined, o.zero ?? true),
  });
  const after = scanCxl(ctx.sysfs);
  if (after.regions.some((x) => x.name === name)) throw new KernelError(`${name} still exists after release`, {device: name, fix: 'see dmesg; daxram recover retries'});
  const freed = r.targets.map((t, i) => ({memdev: r.memdevs[i], decoder: t, bytes: topo.decoders.find((d) => d.name === t)?.dpaSize ?? 0n}));
  confirmDecision(ctx, o.decision, subject);
  journal.clear();
  return {op: 'release', dryRun: false, plan, region: name, rootDecoder: r.rootDecoder, memdevs: r.memdevs, ways: r.interleaveWays, granularity: r.interleaveGranularity, size: r.size, resource: r.resource, freed};
}

/**
 * After an interrupted provision or release: a committed region of a provision goes forward;
 * anything else the journal names is torn down, and DPA a run allocated without a region is
 * freed. Returns what it did.
 */
export async function convergeCxl(ctx: Context, entry: JournalEntry): Promise<string> {
  try {
    return await convergeCxlRegion(ctx, entry);
  } finally {
    // The interrupted provision held the hot-add policy; binding the region (above) needed it held.
    giveBackHeldPolicy(ctx, entry);
  }
}

async function convergeCxlRegion(ctx: Context, entry: JournalEntry): Promise<string> {
  const a = entry.args;
  const decoders = a.decoders ?? [];
  const topo = scanCxl(ctx.sysfs);
  const r = topo.regions.find((x) => x.name === entry.device || x.targets.some((t) => decoders.includes(t)));
  // An operator's provision: its declaration follows what recover makes of the region.
  const decision = entry.op === 'cxl-provision' ? decisionOf(entry) : undefined;
  const subject = {kind: 'cxl-region', memdevs: a.memdevs ?? [], size: BigInt(a.size ?? '0')} as const;
  if (entry.op === 'cxl-provision' && r && r.decodeState === 'commit') {
    if (!cxlRegionBound(ctx.sysfs, r.name)) ctx.sysfs.writeAttr(`${CXL_DRIVERS}/cxl_region`, 'cxl_region', 'bind', r.name);
    // Its device is waited for only when something needs it: the online, or the operator's record.
    const dev = a.online !== false || decision ? await regionDaxDevice(ctx, r.name) : undefined;
    if (dev && a.online !== false) await doOnline(ctx, dev, {zone: (a.zone as ZoneRequest) ?? 'movable'}, {enforce: true});
    confirmDecision(ctx, decision, subject, {devices: dev ? [{dax: dev, role: a.online !== false ? 'ram' : 'devdax'}] : []});
    return `${r.name} was committed: bound${a.online !== false ? ' and onlined' : ''}`;
  }
  abandonDecision(ctx, decision, subject);
  if (r) {
    const {plan} = planCxlRelease(ctx, r.name, decoders);
    await runPlan(ctx, plan, {
      journal: journalFor(ctx),
      intent: {...entry, op: 'cxl-release', device: r.name, step: 0, total: plan.steps.length},
      engine: deviceRunner(ctx),
    });
    return `${r.name} torn down: its capacity is free`;
  }
  // No region: free DPA the run allocated before it had one (the endpoint decoders it named).
  const freed: string[] = [];
  for (const d of [...decoders].reverse()) {
    const dec = topo.decoders.find((x) => x.name === d);
    if (dec && (dec.dpaSize ?? 0n) > 0n && !dec.region) {
      ctx.sysfs.writeAttr(cxlDir(d), d, 'dpa_size', '0');
      freed.push(d);
    }
  }
  return freed.length ? `freed the capacity ${freed.join(', ')} held` : `nothing left of ${entry.device}: its capacity is free (after a reset the platform keeps no region the OS made)`;
}

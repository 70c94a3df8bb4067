// Operator actions from the CLI (online, offline, reassign) are recorded in the desired-state
// store *before* the engine acts, so a running daxramd that wakes on the resulting uevents
// already sees the new intent and never undoes it; the record survives restarts and reboots.
// `daxram forget DEVICE` hands the device back to the config.

import {Sysfs} from '../sysfs';
import {readDax} from '../model/dax';
import {cxlRegionKey, deviceKey, hex, hmemRangeKey, nvdimmRegionKey} from '../model/identity';
import {STATE_DIR, underRoot} from './paths';
import type {DeviceMode, Zone} from './rules';
import {StateStore} from './state';
import {scanCxl} from '../model/cxl/scan';
import type {CxlTopology} from '../model/cxl/types';

export interface OperatorArgs {
  root?: string;
  'state-dir'?: string;
  'dry-run'?: boolean;
}

export function stateDirOf(argv: OperatorArgs): string {
  return argv['state-dir'] ?? underRoot(argv.root, STATE_DIR);
}

/** The zone a record keeps: movable or normal; `auto` (the kernel's choice) is kept as no zone. */
function zoneOf(zone: string | undefined): Zone | undefined {
  return zone === 'movable' || zone === 'normal' ? zone : undefined;
}

/** The serial numbers of these memdevs (undefined where one reports none): what a CXL region's key is made of. */
function serialsOf(t: CxlTopology, memdevs: readonly string[]): Array<bigint | undefined> {
  return memdevs.map((m) => t.memdevs.find((x) => x.name === m)?.serial);
}

interface OperatorRequest {
  device: string;
  mode: DeviceMode;
  zone?: string;
  online?: boolean;
}

/** Record what the operator asked for `device`; a no-op for --dry-run. Returns the undo. */
export function recordOperatorAction(argv: OperatorArgs, device: string, mode: DeviceMode, action: string, opts: {zone?: string; online?: boolean} = {}): () => void {
  return recordIntents(argv, [{device, mode, ...opts}], action);
}

function recordIntents(argv: OperatorArgs, intents: OperatorRequest[], action: string): () => void {
  if (argv['dry-run'] || intents.length === 0) return () => undefined;
  const sysfs = new Sysfs(argv.root ?? '/');
  const at = new Date().toISOString();
  const records = intents.map((i) => {
    // Only the device's own identity, not a platform scan: the engine reads the rest itself.
    const key = deviceKey(readDax(sysfs, i.device, {blockSize: 0n})); // NotFoundError naming the device and the fix
    return {key, device: i.device, mode: i.mode, zone: zoneOf(i.zone), online: i.online, action, at};
  });
  return new StateStore(stateDirOf(argv)).recordUndoable(records);
}

/**
 * After reassign/provision laid a region out: each new device's own record (the RAM one as ram,
 * the rest devdax), keyed by its new namespace uuid, so a reboot brings the RAM part back
 * online instead of leaving the whole region "reserved" and devdax.
 */
export function recordOperatorLayout(
  argv: OperatorArgs,
  devices: ReadonlyArray<{dax?: string; role: string}>,
  action: string,
  opts: {zone?: string; online?: boolean},
): void {
  const intents: OperatorRequest[] = devices
    .filter((d) => d.dax !== undefined)
    .map((d) => (d.role === 'ram' ? {device: d.dax!, mode: 'ram' as DeviceMode, ...opts} : {device: d.dax!, mode: 'devdax' as DeviceMode}));
  recordIntents(argv, intents, action);
}

/**
 * After a dynamic dax region (hmem, CXL) was split: the RAM device's record (devdax when it was
 * left offline), devdax for the rest. The CLI's reassign and daxramd's re-layout of a declared
 * hmem split record the same way, inside the transition.
 */
export function recordDaxSplit(argv: OperatorArgs, devices: ReadonlyArray<{name: string; role: 'ram' | 'devdax'}>, action: string, opts: {zone?: string; online?: boolean}): void {
  recordOperatorLayout(argv, devices.map((d) => ({dax: d.name, role: d.role === 'ram' && opts.online !== false ? 'ram' : 'devdax'})), action, opts);
}

/**
 * reassign/provision re-lay a whole region: its devices (new ones included) become the
 * operator's, recorded as "reserved" (never onlined or offlined by the daemon) until a device
 * gets its own record (daxram online/offline) or the operator runs `daxram forget regionN`.
 */
export function recordOperatorRegion(argv: OperatorArgs, region: string, action: string): () => void {
  const none = () => undefined;
  if (argv['dry-run']) return none;
  if (!/^region[0-9]+$/.test(region)) return none; // the engine reports a bad name with its own error
  return new StateStore(stateDirOf(argv)).recordUndoable([{key: nvdimmRegionKey(region), device: region, mode: 'reserved', action, at: new Date().toISOString()}]);
}

/** Run `f`; when it fails having changed nothing (DaxramError.changedNothing), call `undo`. */
export async function undoIfUnchanged<T>(undo: () => void, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if ((e as {changedNothing?: boolean}).changedNothing) undo();
    throw e;
  }
}

/**
 * Devices about to vanish with their region (release): their records are keyed by a range the
 * next region may reuse, so they go. Keys are read now, while the devices exist; the returned
 * function drops them once the release is done.
 */
export function forgetOperatorDevices(argv: OperatorArgs, devices: string[]): () => void {
  if (argv['dry-run'] || devices.length === 0) return () => undefined;
  const sysfs = new Sysfs(argv.root ?? '/');
  const keys = devices.flatMap((d) => {
    try {
      return [deviceKey(readDax(sysfs, d, {blockSize: 0n}))];
    } catch {
      return [];
    }
  });
  return () => {
    const store = new StateStore(stateDirOf(argv));
    for (const k of keys) store.forget(k);
  };
}

/**
 * `daxram provision memA,memB` made a CXL region: declare it, so daxramd programs it again after
 * a power cycle (OS-managed decoders start from nothing). Memdevs are named by serial number, which
 * a reboot does not renumber; one without a serial cannot be declared, and the caller says so.
 */
export function recordCxlRegion(argv: OperatorArgs, memdevs: string[], size: bigint, mode: DeviceMode, opts: {zone?: string; online?: boolean} = {}): string | undefined {
  if (argv['dry-run']) return undefined;
  const serials = serialsOf(scanCxl(new Sysfs(argv.root ?? '/')), memdevs);
  const missing = memdevs.filter((_, i) => serials[i] === undefined);
  if (missing.length) return `not declared for the next boot: ${missing.join(', ')} report(s) no serial number to find them by`;
  new StateStore(stateDirOf(argv)).record([{key: cxlRegionKey(serials as bigint[]), device: memdevs.join(','), mode, online: opts.online, zone: zoneOf(opts.zone), memdevs: (serials as bigint[]).map(hex), size: size.toString(), action: 'provision', at: new Date().toISOString()}]);
  return undefined;
}

/**
 * `daxram reassign regionN --ram SIZE` split a CXL region (its dax region `owner`): the split is
 * declared with the region, so daxramd lays the region out again after a power cycle. A region
 * daxram did not provision (committed by firmware, declared in the config) gets a declaration of
 * its own: the operator's layout wins over the config until `daxram forget cxl:…`.
 */
export function recordCxlSplit(argv: OperatorArgs, owner: string, ram: bigint, opts: {zone?: string; online?: boolean} = {}): string | undefined {
  if (argv['dry-run']) return undefined;
  const t = scanCxl(new Sysfs(argv.root ?? '/'));
  const r = t.regions.find((x) => x.daxRegion === owner);
  if (!r) return undefined;
  const serials = serialsOf(t, r.memdevs);
  if (serials.some((x) => x === undefined)) return `the split is not declared for the next boot: a memdev of ${r.name} reports no serial number`;
  const store = new StateStore(stateDirOf(argv));
  const key = cxlRegionKey(serials as bigint[]);
  const before = store.get(key);
  const base = before ?? {key, device: r.memdevs.join(','), memdevs: (serials as bigint[]).map(hex), size: r.size.toString(), mode: 'ram' as DeviceMode, action: 'reassign', at: ''};
  store.record([{...base, mode: ram > 0n ? 'ram' : 'devdax', zone: zoneOf(opts.zone), online: opts.online, ram: ram.toString(), action: 'reassign', at: new Date().toISOString()}]);
  return undefined;
}

/**
 * `daxram reassign hmem.N --ram SIZE` split a soft-reserved range: declare the split, so daxramd
 * lays it out again after a reboot, which gives the range back as one device.
 */
export function recordHmemLayout(argv: OperatorArgs, device: string, start: bigint, size: bigint, ram: bigint, opts: {zone?: string; online?: boolean} = {}): void {
  if (argv['dry-run']) return;
  new StateStore(stateDirOf(argv)).record([{key: hmemRangeKey(start), device, mode: ram > 0n ? 'ram' : 'devdax', zone: zoneOf(opts.zone), online: opts.online, size: size.toString(), ram: ram.toString(), action: 'reassign', at: new Date().toISOString()}]);
}

/**
 * `daxram release regionN`: the region's declaration goes first, before the release starts, so a
 * daxramd woken by the teardown's uevents never makes the region again; returns the undo for a
 * release that changed nothing.
 */
export function forgetCxlRegion(argv: OperatorArgs, region: string): () => void {
  const none = () => undefined;
  if (argv['dry-run']) return none;
  const t = scanCxl(new Sysfs(argv.root ?? '/'));
  const r = t.regions.find((x) => x.name === region);
  const serials = r && serialsOf(t, r.memdevs);
  if (!serials?.length || serials.some((x) => x === undefined)) return none;
  const store = new StateStore(stateDirOf(argv));
  const key = cxlRegionKey(serials as bigint[]);
  const before = store.get(key);
  if (!before) return none;
  store.forget(key);
  return () => store.record([before]);
}
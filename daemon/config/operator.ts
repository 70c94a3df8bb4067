// The operator's records in the desired-state store, one writer per kind of decision. The engine
// says when (engine/intent.ts: record before the first write, confirm after, also from recover;
// host/intent.ts maps its hook onto these), so a daxramd woken by the uevents already finds the
// decision and never undoes it; records survive restarts and reboots. `daxram forget DEVICE`
// hands a device back to the config.

import type {Sysfs} from '../sysfs';
import {readDax} from '../model/dax';
import {cxlRegionKey, deviceKey, hex, hmemRangeKey, liveCxlRegionKey, nvdimmRegionKey} from '../model/identity';
import {STATE_DIR, underRoot} from './paths';
import type {DeviceMode, Zone} from './rules';
import type {StateStore} from './state';
import {scanCxl} from '../model/cxl/scan';
import type {CxlTopology} from '../model/cxl/types';

export interface OperatorArgs {
  root?: string;
  'state-dir'?: string;
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

export interface OperatorRequest {
  device: string;
  mode: DeviceMode;
  zone?: string;
  online?: boolean;
}

/** Records of the operator's devices, keyed by what each device is (model/identity.ts). */
export function recordDevices(sysfs: Sysfs, store: StateStore, requests: OperatorRequest[], action: string): void {
  if (requests.length === 0) return;
  const at = new Date().toISOString();
  store.record(
    requests.map((i) => {
      // Only the device's own identity, not a platform scan.
      const key = deviceKey(readDax(sysfs, i.device, {blockSize: 0n})); // NotFoundError naming the device and the fix
      return {key, device: i.device, mode: i.mode, zone: zoneOf(i.zone), online: i.online, action, at};
    }),
  );
}

/**
 * reassign/provision re-lay a whole NVDIMM region: its devices (new ones included) become the
 * operator's, recorded as "reserved" (never onlined or offlined by the daemon) until a device
 * gets its own record (the layout's, or daxram online/offline) or `daxram forget regionN`.
 */
export function recordRegionReserved(store: StateStore, region: string, action: string): void {
  store.record([{key: nvdimmRegionKey(region), device: region, mode: 'reserved', action, at: new Date().toISOString()}]);
}

/**
 * `daxram provision memA,memB` makes a CXL region: declare it, so daxramd programs it again after
 * a power cycle (OS-managed decoders start from nothing). Memdevs are named by serial number, which
 * a reboot does not renumber; one without a serial cannot be declared: the returned warning says so.
 */
export function recordCxlRegion(sysfs: Sysfs, store: StateStore, memdevs: string[], size: bigint, mode: DeviceMode, opts: {zone?: string; online?: boolean}): string | undefined {
  const serials = serialsOf(scanCxl(sysfs), memdevs);
  const missing = memdevs.filter((_, i) => serials[i] === undefined);
  if (missing.length) return `not declared for the next boot: ${missing.join(', ')} report(s) no serial number to find them by`;
  store.record([{key: cxlRegionKey(serials as bigint[]), device: memdevs.join(','), mode, online: opts.online, zone: zoneOf(opts.zone), memdevs: (serials as bigint[]).map(hex), size: size.toString(), action: 'provision', at: new Date().toISOString()}]);
  return undefined;
}

/** A provision recover tore down: its declaration goes with it. */
export function forgetCxlDeclaration(sysfs: Sysfs, store: StateStore, memdevs: string[]): void {
  const key = liveCxlRegionKey(scanCxl(sysfs), {memdevs});
  if (key) store.forget(key);
}

/**
 * `daxram reassign regionN --ram SIZE` splits a CXL region (its dax region `owner`): the split is
 * declared with the region, so daxramd lays the region out again after a power cycle. A region
 * daxram did not provision (committed by firmware, declared in the config) gets a declaration of
 * its own: the operator's layout wins over the config until `daxram forget cxl:…`.
 */
export function recordCxlSplit(sysfs: Sysfs, store: StateStore, owner: string, ram: bigint, opts: {zone?: string; online?: boolean}): string | undefined {
  const t = scanCxl(sysfs);
  const r = t.regions.find((x) => x.daxRegion === owner);
  if (!r) return undefined;
  const serials = serialsOf(t, r.memdevs);
  if (serials.some((x) => x === undefined)) return `the split is not declared for the next boot: a memdev of ${r.name} reports no serial number`;
  const key = cxlRegionKey(serials as bigint[]);
  const base = store.get(key) ?? {key, device: r.memdevs.join(','), memdevs: (serials as bigint[]).map(hex), size: r.size.toString(), mode: 'ram' as DeviceMode, action: 'reassign', at: ''};
  store.record([{...base, mode: ram > 0n ? 'ram' : 'devdax', zone: zoneOf(opts.zone), online: opts.online, ram: ram.toString(), action: 'reassign', at: new Date().toISOString()}]);
  return undefined;
}

/**
 * `daxram reassign hmem.N --ram SIZE` splits a soft-reserved range: declare the split, so daxramd
 * lays it out again after a reboot, which gives the range back as one device.
 */
export function recordHmemSplit(store: StateStore, device: string, start: bigint, size: bigint, ram: bigint, opts: {zone?: string; online?: boolean}): void {
  store.record([{key: hmemRangeKey(start), device, mode: ram > 0n ? 'ram' : 'devdax', zone: zoneOf(opts.zone), online: opts.online, size: size.toString(), ram: ram.toString(), action: 'reassign', at: new Date().toISOString()}]);
}

/**
 * `daxram release regionN`: the region's declaration and its devices' records go (the devices'
 * keys are ranges the next region may reuse). Read now, while the region and devices exist.
 */
export function forgetCxlRegion(sysfs: Sysfs, store: StateStore, region: string, devices: string[]): void {
  const keys = devices.flatMap((d) => {
    try {
      return [deviceKey(readDax(sysfs, d, {blockSize: 0n}))];
    } catch {
      return [];
    }
  });
  const t = scanCxl(sysfs);
  const r = t.regions.find((x) => x.name === region);
  const declared = r && liveCxlRegionKey(t, r);
  if (declared) keys.push(declared);
  for (const k of keys) store.forget(k);
}

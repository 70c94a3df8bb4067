// The identity of a dax device that survives a reboot, computed in one place: an operator
// record (written by the CLI), a configuration rule, a remembered reservation and daxramd's view
// of the same device must name and key it alike, or one would not see what another decided.
// Strongest first: a namespace uuid; else where the device is (dax region and the start of its
// first range: hmem, CXL); else the kernel name, which can move across reboots.

import type {DaxDevice} from './types';
import type {CxlMemdev, CxlRegion} from './cxl/types';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** How a rule, a reservation or a record names a device. */
export interface DeviceMatch {
  /** Namespace uuid (lower case). */
  uuid?: string;
  /** dax region id, X in daxX.Y (hmem, CXL); with resource, optional. */
  daxRegion?: number;
  /** Physical start of the device's first range. */
  resource?: bigint;
  /** Kernel name; not stable across reboots. */
  dax?: string;
}

type Identified = Pick<DaxDevice, 'name' | 'daxRegion' | 'ranges' | 'uuids'>;

/** The key of a match: uuid:<uuid>, res:<dax region or *>:0x<start>, dax:<name>. */
export function matchKey(m: DeviceMatch): string {
  if (m.uuid) return `uuid:${m.uuid}`;
  if (m.resource !== undefined) return `res:${m.daxRegion ?? '*'}:0x${m.resource.toString(16)}`;
  return `dax:${m.dax}`;
}

/** Whether two matches name one device (a resource match without a region fits any region). */
export function sameDevice(a: DeviceMatch, b: DeviceMatch): boolean {
  if (a.uuid !== undefined || b.uuid !== undefined) return a.uuid === b.uuid;
  if (a.resource !== undefined || b.resource !== undefined) {
    return a.resource === b.resource && (a.daxRegion === undefined || b.daxRegion === undefined || a.daxRegion === b.daxRegion);
  }
  return a.dax === b.dax;
}

/**
 * Whether `m` names the live device, and how strongly: by uuid (either of a devdax namespace's
 * two: the label's, ndctl's raw_uuid, or the info block's, which ndctl prints and daxctl's
 * nvdimm.uuid means), by where it is, or by kernel name. A match by uuid or place never falls
 * back to the kernel name.
 */
export function matchStrength(m: DeviceMatch, dev: Identified): 'uuid' | 'resource' | 'dax' | undefined {
  if (m.uuid !== undefined) return deviceUuids(dev).some((u) => u.toLowerCase() === m.uuid!.toLowerCase()) ? 'uuid' : undefined;
  if (m.resource !== undefined) return m.resource === dev.ranges[0]?.start && (m.daxRegion === undefined || m.daxRegion === dev.daxRegion) ? 'resource' : undefined;
  return m.dax === dev.name ? 'dax' : undefined;
}

/** The strongest match the live device has: its namespace uuid, else where it is, else its name. */
export function deviceMatch(dev: Identified): DeviceMatch {
  const uuid = dev.uuids.namespace;
  if (uuid && isUuid(uuid)) return {uuid: uuid.toLowerCase()};
  const start = dev.ranges[0]?.start;
  if (start !== undefined) return {daxRegion: dev.daxRegion, resource: start};
  return {dax: dev.name};
}

/** The key operator records and daxramd use for a live device. */
export function deviceKey(dev: Identified): string {
  return matchKey(deviceMatch(dev));
}

/** Every uuid a rule or reservation may name the device by: the namespace's and the info block's. */
export function deviceUuids(dev: Pick<DaxDevice, 'uuids'>): string[] {
  return [dev.uuids.infoBlock, dev.uuids.namespace].filter((u): u is string => !!u);
}

// Keys of whole regions: what persists of each, so a reboot that renumbers kernel names keeps them.

/**
 * An NVDIMM region the operator laid out (reassign, provision): by its kernel name, which the
 * platform's interleave set keeps stable on the boxes daxram has met; the record only marks the
 * region's devices as the operator's until a device has its own record.
 */
export function nvdimmRegionKey(region: string): string {
  return `region:${region}`;
}

/**
 * A CXL region is its set of memdevs, by serial number (a reboot can renumber memN, not the
 * serial), sorted: the region design orders them as the topology needs.
 */
export function cxlRegionKey(serials: readonly bigint[]): string {
  return `cxl:${[...serials].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(hex).join(',')}`;
}

/**
 * The key of a live CXL region, from its memdevs' serials: the same key the operator's record
 * and a [region] section give it, whatever the kernel named the region and its memdevs this boot.
 * Undefined when a memdev of it has no serial to read.
 */
export function liveCxlRegionKey(topo: {memdevs: readonly Pick<CxlMemdev, 'name' | 'serial'>[]}, region: Pick<CxlRegion, 'memdevs'>): string | undefined {
  const serials = region.memdevs.map((name) => topo.memdevs.find((m) => m.name === name)?.serial);
  return serials.length && serials.every((s) => s !== undefined) ? cxlRegionKey(serials as bigint[]) : undefined;
}

/** What a key names: one device (uuid, res, dax) or a whole region's capacity (region, cxl, hmem). */
const KEY_KINDS = ['uuid', 'res', 'dax', 'region', 'cxl', 'hmem'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

export function keyKind(key: string): KeyKind | undefined {
  const kind = key.slice(0, key.indexOf(':'));
  return KEY_KINDS.find((k) => k === kind);
}

/** A soft-reserved range, by its start: hmem.N numbers follow the order the ranges probe in. */
export function hmemRangeKey(start: bigint): string {
  return `hmem:${hex(start)}`;
}

/** The start an hmem range key names. */
export function hmemKeyStart(key: string): bigint {
  return BigInt(key.slice('hmem:'.length));
}

/** A serial number or address as keys and records write it. */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

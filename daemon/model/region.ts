// regionN: an interleave set of DIMMs with one physical range. Its badblocks list is where the
// kernel records poison found by scrubs, relative to the region's start.

import type {Sysfs} from '../sysfs';
import {parseBigAttr, parseIntAttr} from '../sysfs';
import {SysfsError} from '../errors';
import type {Badblock, Bus, Range, Region, RegionMapping} from './types';
import {normalize} from '../util/ranges';
import {idOf, needBig, optBig, optInt, parseBool} from './attr';

const SECTOR = 512n;
const ND_DEVICE_NAMESPACE_IO = 4;

/** badblocks: one "sector count" pair per line, 512-byte units from the region's resource. */
export function parseBadblocks(raw: string, regionStart: bigint, path: string, device?: string): Badblock[] {
  const out: Badblock[] = [];
  for (const line of raw.split('\n')) {
    const s = line.trim();
    if (s === '') continue;
    const m = /^(\d+)\s+(\d+)$/.exec(s);
    if (!m) throw new SysfsError(`${path}: expected "sector count", got "${line}"`, {path, device});
    const offset = BigInt(m[1]) * SECTOR;
    out.push({offset, length: BigInt(m[2]) * SECTOR, start: regionStart + offset});
  }
  return out;
}

/**
 * regionN/badblocks, read now, as absolute ranges. The attribute refuses reads (ENXIO) while
 * the region is disabled: no list then. A line that does not parse is an error, never skipped:
 * this list feeds the poison gate.
 */
export function readBadblocks(sysfs: Sysfs, dir: string, name: string, resource: bigint): Badblock[] {
  const p = `${dir}/badblocks`;
  const raw = sysfs.readOptional(p, name);
  return raw === undefined ? [] : parseBadblocks(raw, resource, p, name);
}

/** The same list read now, as merged absolute ranges (what the poison gate and the scrub compare). */
export function readBadblockRanges(sysfs: Sysfs, dir: string, name: string, resource: bigint): Range[] {
  return normalize(readBadblocks(sysfs, dir, name, resource).map((b) => ({start: b.start, size: b.length})));
}


/** mappingN: "nmemX,offset,length[,position]" (position arrived in later kernels). */
export function parseRegionMapping(raw: string, path: string, device?: string): RegionMapping {
  const parts = raw.trim().split(',');
  if (parts.length < 3 || !/^nmem\d+$/.test(parts[0])) {
    throw new SysfsError(`${path}: expected "nmemX,offset,length,position", got "${raw}"`, {path, device});
  }
  const m: RegionMapping = {
    dimm: parts[0],
    offset: parseBigAttr(parts[1], path, device),
    length: parseBigAttr(parts[2], path, device),
  };
  if (parts.length > 3) m.position = parseIntAttr(parts[3], path, device);
  return m;
}

/** Read regionN; `dir` is its resolved path under its bus. Links start empty except bus. */
export function readRegion(sysfs: Sysfs, name: string, dir: string, bus: Bus): Region {
  const resource = readRegionResource(sysfs, dir, name);
  const size = needBig(sysfs, `${dir}/size`, name);
  const devtype = sysfs.readOptional(`${dir}/devtype`, name) ?? 'unknown';
  const roRaw = sysfs.readOptional(`${dir}/read_only`, name);
  const nstype = optInt(sysfs, `${dir}/nstype`, name, 0);
  const region: Region = {
    name,
    id: idOf(name),
    bus,
    devtype,
    resource,
    size,
    align: optBig(sysfs, `${dir}/align`, name) ?? 0n,
    // A label-less region (nstype io) has one fixed namespace and nothing to allocate, whatever
    // available_size says; libndctl reports 0 there and so do we.
    available: nstype === ND_DEVICE_NAMESPACE_IO ? 0n : optBig(sysfs, `${dir}/available_size`, name) ?? 0n,
    nstype: nstype || undefined,
    targetNode: optInt(sysfs, `${dir}/target_node`, name, -1),
    numaNode: optInt(sysfs, `${dir}/numa_node`, name, -1),
    readOnly: roRaw === undefined ? false : parseBool(roRaw, `${dir}/read_only`, name),
    enabled: sysfs.linkName(`${dir}/driver`) !== undefined,
    dir,
    labelless: nstype === ND_DEVICE_NAMESPACE_IO,
    badblocks: [],
    dimms: [],
    namespaces: [],
    daxDevices: [],
    mappings: [],
  };
  const pd = sysfs.readOptional(`${dir}/persistence_domain`, name);
  if (pd !== undefined && pd.trim() !== '') region.persistenceDomain = pd.trim();
  const mae = optBig(sysfs, `${dir}/max_available_extent`, name);
  if (mae !== undefined) region.maxAvailableExtent = nstype === ND_DEVICE_NAMESPACE_IO ? 0n : mae;
  const seeds = readSeeds(sysfs, dir, name);
  if (seeds.namespace) region.namespaceSeed = seeds.namespace;
  if (seeds.dax) region.daxSeed = seeds.dax;
  region.badblocks = readBadblocks(sysfs, dir, name, resource);
  region.mappings = readMappings(sysfs, dir, name);
  return region;
}

/** A region's mappingN: the DIMMs it interleaves, in order. */
export function readMappings(sysfs: Sysfs, dir: string, name: string): RegionMapping[] {
  const out: RegionMapping[] = [];
  for (const m of sysfs.list(dir, /^mapping\d+$/)) {
    const p = `${dir}/${m}`;
    const raw = sysfs.readOptional(p, name);
    if (raw !== undefined) out.push(parseRegionMapping(raw, p, name));
  }
  return out;
}

/** Where a region starts in physical address space: what its badblocks' sectors count from. */
export function readRegionResource(sysfs: Sysfs, dir: string, name: string): bigint {
  return needBig(sysfs, `${dir}/resource`, name);
}

/**
 * The namespace and dax seeds a region offers now ('' where none): each create takes a seed and
 * the kernel offers the next, so a layout re-reads them between its steps.
 */
export function readSeeds(sysfs: Sysfs, dir: string, name?: string): {namespace: string; dax: string} {
  return {namespace: sysfs.readOptional(`${dir}/namespace_seed`, name)?.trim() ?? '', dax: sysfs.readOptional(`${dir}/dax_seed`, name)?.trim() ?? ''};
}

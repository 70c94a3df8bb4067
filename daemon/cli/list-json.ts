// The JSON shapes of `daxram list`: one function per kernel object, with daxctl's and ndctl's
// field names where the concept is the same, so scripts written against `daxctl list` keep
// working. docs/list-json.md documents them; the table in commands/list.ts prints the same facts.

import {tierOf, type TieringState} from '../model/tiers';
import type {InterleaveWeights} from '../model/mempolicy';
import type {NodeZones} from '../model/node';
import {memblockSummary} from '../model/scan';
import type {Bus, DaxDevice, Dimm, Namespace, Region} from '../model/types';
import type {CxlDecoder, CxlMemdev, CxlRegion, CxlTopology} from '../model/cxl/types';
import type {CxlPoisonRecord} from '../scrub/cxl';

export interface ListFacts {
  tiering?: TieringState;
  /** The weighted-interleave weights (6.9+), and whether the kernel sets them (auto, 6.16+). */
  interleave?: InterleaveWeights;
  /** Each node's Movable and kernel-zone bytes (/proc/zoneinfo), for the zone-balance line. */
  zones?: NodeZones[];
  /** Poison records of every memdev asked, and the count per CXL dax device. */
  media?: {records: CxlPoisonRecord[]; byDevice: Map<string, number>};
}

export const nodeTier = (f: ListFacts, node: number) => (f.tiering && node >= 0 ? tierOf(f.tiering.tiers, node) : undefined);

/** Badblocks records of the device's region that overlap the device's ranges (CXL: its poison list, when read). */
export function deviceBadblocks(d: DaxDevice, f: ListFacts): number | undefined {
  if (d.cxl) return f.media?.byDevice.get(d.name);
  if (!d.region) return 0;
  let n = 0;
  for (const bb of d.region.badblocks) {
    if (d.ranges.some((r) => bb.start < r.start + r.size && r.start < bb.start + bb.length)) n++;
  }
  return n;
}

/** One device the way daxctl prints it, plus where it comes from and what kmem would add. */
export function deviceJson(d: DaxDevice, f: ListFacts): Record<string, unknown> {
  const j: Record<string, unknown> = {chardev: d.chardev, size: d.size};
  if (d.targetNode >= 0) j.target_node = d.targetNode;
  const tier = nodeTier(f, d.targetNode);
  if (tier !== undefined) j.memory_tier = tier;
  if (d.align > 0n) j.align = d.align;
  // daxctl calls everything not bound to kmem "devdax" and flags the unbound with state.
  j.mode = d.mode === 'system-ram' ? 'system-ram' : 'devdax';
  if (d.mode === 'system-ram') {
    const s = memblockSummary(d);
    j.online_memblocks = s.online;
    j.total_memblocks = s.total;
    if (s.movable !== undefined) j.movable = s.movable;
  }
  if (d.mode === 'disabled') j.state = 'disabled';
  j.numa_node = d.numaNode;
  j.origin = d.origin.kind;
  if (d.namespace) j.namespace = d.namespace.name;
  if (d.region) j.region = d.region.name;
  if (d.bus) j.bus = d.bus.provider;
  else if (d.provider) j.provider = d.provider;
  if (d.cxl) j.cxl = cxlOrigin(d.cxl);
  if (d.iomem) j.iomem = {name: d.iomem.name, start: d.iomem.start, end: d.iomem.end};
  j.badblocks = deviceBadblocks(d, f);
  j.kmem_capacity = d.kmemCapacity;
  j.kmem_blocks = d.kmemBlocks;
  let pgoff = 0n;
  j.mappings = d.ranges.map((r) => {
    const m = {page_offset: pgoff, start: r.start, end: r.start + r.size - 1n, size: r.size};
    pgoff += r.size / 4096n;
    return m;
  });
  return j;
}

/** A CXL device's origin: its region, root decoder, interleave, host bridges and memdevs. */
export function cxlOrigin(r: CxlRegion): Record<string, unknown> {
  return {
    region: r.name,
    root_decoder: r.rootDecoder,
    resource: r.resource,
    size: r.size,
    interleave_ways: r.interleaveWays,
    interleave_granularity: r.interleaveGranularity,
    decode_state: r.decodeState,
    host_bridges: r.hostBridges,
    memdevs: r.memdevs,
    endpoint_decoders: r.targets,
  };
}

/** memN as `cxl list -M` prints it (sizes in bytes). */
export function memdevJson(m: CxlMemdev): Record<string, unknown> {
  const j: Record<string, unknown> = {memdev: m.name};
  if (m.pmemSize > 0n) j.pmem_size = m.pmemSize;
  if (m.ramSize > 0n) j.ram_size = m.ramSize;
  if (m.serial !== undefined) j.serial = m.serial;
  if (m.numaNode >= 0) j.numa_node = m.numaNode;
  j.host = m.host;
  if (m.endpoint) j.endpoint = m.endpoint;
  j.poison_list = m.poisonList;
  return j;
}

/** regionN as `cxl list -R` prints it. */
export function cxlRegionJson(r: CxlRegion): Record<string, unknown> {
  const j: Record<string, unknown> = {region: r.name, resource: r.resource, size: r.size, type: r.mode, interleave_ways: r.interleaveWays, interleave_granularity: r.interleaveGranularity, decode_state: r.decodeState};
  if (r.uuid) j.uuid = r.uuid;
  j.root_decoder = r.rootDecoder;
  j.targets = r.targets;
  j.memdevs = r.memdevs;
  if (r.daxRegion) j.dax_region = r.daxRegion;
  return j;
}

/** decoderX.Y as `cxl list -D` prints it, grouped by kind like it. */
export function decoderJson(d: CxlDecoder): Record<string, unknown> {
  const j: Record<string, unknown> = {decoder: d.name};
  if (d.size > 0n) {
    j.resource = d.start;
    j.size = d.size;
  }
  j.interleave_ways = d.interleaveWays;
  if (d.interleaveGranularity > 0) j.interleave_granularity = d.interleaveGranularity;
  if (d.kind === 'root') {
    j.pmem_capable = !!d.capPmem;
    j.volatile_capable = !!d.capRam;
    j.nr_targets = d.targets.length;
  } else {
    if (d.region) j.region = d.region;
    if (d.kind === 'switch') j.nr_targets = d.targets.length;
    if (d.kind === 'endpoint' && d.size > 0n) {
      j.dpa_resource = d.dpaResource;
      j.dpa_size = d.dpaSize;
      j.mode = d.mode;
    }
  }
  if (d.size === 0n) j.state = 'disabled';
  return j;
}

export function cxlJson(t: CxlTopology): Record<string, unknown> {
  const of = (k: CxlDecoder['kind']) => t.decoders.filter((d) => d.kind === k).map(decoderJson);
  return {memdevs: t.memdevs.map(memdevJson), regions: t.regions.map(cxlRegionJson), root_decoders: of('root'), port_decoders: of('switch'), endpoint_decoders: of('endpoint')};
}

export function namespaceJson(n: Namespace): Record<string, unknown> {
  const j: Record<string, unknown> = {dev: n.name, mode: n.mode};
  if (n.map) j.map = n.map;
  j.size = n.usableSize ?? n.size;
  // ndctl shows the claim's (info block) uuid for fsdax/devdax, the label's for raw.
  const uuid = n.claimUuid ?? n.uuid;
  if (uuid) j.uuid = uuid;
  if (n.mode === 'devdax' && n.daxDevices[0]) j.chardev = n.daxDevices[0].chardev;
  if (n.align !== undefined) j.align = n.align;
  if (!n.enabled) j.state = 'disabled';
  return j;
}

export function dimmJson(d: Dimm): Record<string, unknown> {
  const j: Record<string, unknown> = {dev: d.name};
  if (d.uid) j.id = d.uid;
  if (d.handle !== undefined) j.handle = d.handle;
  if (d.physId !== undefined) j.phys_id = d.physId;
  if (d.security !== 'unsupported') j.security = d.security;
  if (d.flags.length) j.flags = d.flags;
  return j;
}

export function regionJson(r: Region, withDevices = true): Record<string, unknown> {
  const j: Record<string, unknown> = {
    dev: r.name,
    size: r.size,
    align: r.align,
    available_size: r.available,
  };
  if (r.maxAvailableExtent !== undefined) j.max_available_extent = r.maxAvailableExtent;
  // libndctl calls volatile regions "pmem" too (same namespace type); devtype tells them apart.
  j.type = r.devtype === 'nd_pmem' || r.devtype === 'nd_volatile' ? 'pmem' : r.devtype === 'nd_blk' ? 'blk' : r.devtype;
  j.devtype = r.devtype;
  j.resource = r.resource;
  j.numa_node = r.numaNode;
  j.target_node = r.targetNode;
  j.badblock_count = r.badblocks.length;
  j.persistence_domain = r.persistenceDomain ?? 'unknown';
  if (!r.enabled) j.state = 'disabled';
  j.bus = r.bus.provider;
  j.mappings = (r.mappings ?? []).map((m) => ({dimm: m.dimm, offset: m.offset, length: m.length, position: m.position}));
  if (withDevices) {
    j.namespaces = r.namespaces.map(namespaceJson);
    j.devices = r.daxDevices.map((d) => d.name);
  }
  return j;
}

export function busJson(b: Bus): Record<string, unknown> {
  const j: Record<string, unknown> = {provider: b.provider, dev: b.name, ctl: b.dev};
  if (b.scrub) j.scrub_state = b.scrub.running ? 'active' : 'idle';
  j.commands = b.commands;
  j.regions = b.regions.map((r) => r.name);
  j.dimms = b.dimms.map((d) => d.name);
  return j;
}

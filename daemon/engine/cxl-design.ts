// The design of a CXL RAM region, before any write: which root decoder (CFMWS window), how
// many ways and at what granularity, how much each memdev gives, which endpoint decoder takes
// which interleave position. Pure: it reads only a scanned topology, so every refusal comes
// before the first write (cxl-region.ts carries the design out).

import {KernelError, NotFoundError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {CXL_DEVICES} from '../model/cxl/scan';
import type {CxlDecoder, CxlPort, CxlTopology} from '../model/cxl/types';

/** Decoders and region sizes move in 256 MiB units (the CXL HDM decoder granule). */
export const CXL_GRANULE = 256n << 20n;
/** Interleave ways the CXL spec encodes. */
const WAYS = [1, 2, 3, 4, 6, 8, 12, 16];
const MEMDEV_RE = /^mem\d+$/;

export interface CxlTarget {
  position: number;
  memdev: string;
  /** The endpoint decoder that will map the memdev's share. */
  decoder: string;
  hostBridge: string;
  /** Id of the host bridge's downstream port the memdev sits behind. */
  dport: number;
}

/** A region to make, decided before any write and explained in its notes. */
export interface CxlDesign {
  rootDecoder: string;
  region: string;
  ways: number;
  granularity: number;
  perDevice: bigint;
  size: bigint;
  targets: CxlTarget[];
  notes: string[];
}

/** memA,memB… as the operator typed them: unique memdev names. */
export function parseMemdevList(arg: string): string[] {
  const names = arg.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length || !names.every((n) => MEMDEV_RE.test(n))) {
    throw new UsageError(`"${arg}" is not a list of CXL memdevs`, {device: arg, fix: 'name memdevs like mem0 or mem0,mem1 (see daxram list --cxl)'});
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new UsageError(`${dup} is named twice`, {device: dup, fix: 'each memdev contributes once to an interleave'});
  return names;
}

export function isMemdevList(arg: string): boolean {
  return /^mem\d+(\s*,\s*mem\d+)*$/.test(arg.trim());
}

/** The host-bridge port a memdev hangs off, and the downstream port id there. */
function pathOf(topo: CxlTopology, memdev: string): {ep: CxlPort; hb: CxlPort; dport: number} {
  const m = topo.memdevs.find((x) => x.name === memdev);
  if (!m) {
    throw new NotFoundError('no such CXL memdev', {device: memdev, path: `${CXL_DEVICES}/${memdev}`, fix: `memdevs present: ${topo.memdevs.map((x) => x.name).join(', ') || 'none'} (see daxram list --cxl)`});
  }
  const ep = topo.ports.find((p) => p.kind === 'endpoint' && p.name === m.endpoint);
  if (!ep) throw new KernelError(`${memdev} has no endpoint port: cxl_mem did not attach it`, {device: memdev, fix: 'see dmesg for cxl_mem/cxl_port errors (link training, HDM decoder capability)'});
  const hb = topo.ports.find((p) => p.name === ep.parent);
  const root = hb && topo.ports.find((p) => p.name === hb.parent);
  if (!hb || !root || root.kind !== 'root') {
    throw new UsageError(`${memdev} sits behind a CXL switch; daxram only builds regions of memdevs attached to a host bridge's root ports`, {device: memdev, fix: 'use cxl create-region for switched topologies'});
  }
  const dport = hb.dports.find((d) => d.dir === ep.parentDport);
  if (!dport) throw new KernelError(`${memdev}: cannot tell which root port of ${hb.host} it sits behind (parent_dport)`, {device: memdev, path: `${ep.dir}/parent_dport`});
  return {ep, hb, dport: dport.id};
}

/** The id the root decoders' target_list uses for a host bridge. */
function hostBridgeId(topo: CxlTopology, hb: CxlPort): number {
  const root = topo.ports.find((p) => p.name === hb.parent)!;
  const d = root.dports.find((x) => x.dir === hb.parentDport);
  if (!d) throw new KernelError(`${hb.name} (${hb.host}): not found among ${root.name}'s downstream ports`, {device: hb.name, path: `${hb.dir}/parent_dport`});
  return d.id;
}

type MemdevPath = {memdev: string} & ReturnType<typeof pathOf>;

/**
 * Which root decoder, ways, granularity, size, endpoint decoders and positions. Pure: reads
 * only the topology, so every refusal happens before the first write.
 */
export function designCxlRegion(topo: CxlTopology, memdevs: string[], o: {size?: bigint} = {}): CxlDesign {
  const notes: string[] = [];
  const ways = memdevs.length;
  const paths = memdevs.map((m) => ({memdev: m, ...pathOf(topo, m)}));
  const hbIds = [...new Set(paths.map((p) => hostBridgeId(topo, p.hb)))];
  // The root decoder (a CFMWS window) must interleave across exactly these host bridges.
  const roots = topo.decoders.filter((d) => d.kind === 'root' && d.capRam !== false && d.interleaveWays === hbIds.length && hbIds.every((id) => d.targets.includes(String(id))));
  if (!roots.length) {
    throw new UsageError(`no root decoder takes RAM regions across host bridge(s) ${hbIds.join(', ')} (of ${memdevs.join(', ')})`, {
      device: memdevs.join(','),
      fix: 'the platform (CEDT CFMWS) offers no window for this combination: choose memdevs under the host bridge(s) one window interleaves (daxram list --cxl shows root decoders and their targets)',
    });
  }
  checkInterleave(topo, paths, hbIds);
  const minFree = leastFree(topo, memdevs);
  // The window with the most host address space left.
  const hpaFree = (root: CxlDecoder) => {
    const used = topo.regions.filter((r) => r.rootDecoder === root.name).reduce((a, r) => a + r.size, 0n);
    return root.size > used ? root.size - used : 0n;
  };
  const root = roots.reduce((best, r) => (hpaFree(r) > hpaFree(best) ? r : best));
  const free = hpaFree(root);
  const size = regionSize(root.name, free, memdevs, minFree, o.size, notes);
  const perDevice = size / BigInt(ways);
  const targets = placeTargets(topo, root, paths, hbIds);
  // The kernel requires the root decoder's granularity once host bridges interleave; otherwise
  // it is still the natural choice (and cxl create-region's default).
  const granularity = root.interleaveGranularity || 256;
  if (!root.nextRegion) throw new KernelError(`${root.name} offers no region name (create_ram_region)`, {device: root.name, fix: 'this kernel cannot create CXL RAM regions (6.3 or later needed)'});
  notes.push(
    `region: ${root.nextRegion} under ${root.name} (window 0x${root.start.toString(16)}, ${humanSize(root.size)}, ${humanSize(free)} free)`,
    `interleave: ${ways} way(s)${ways > 1 ? `, ${granularity} B granularity (${hbIds.length > 1 ? "the root decoder's, which the kernel requires across host bridges" : "the root decoder's, cxl create-region's default"}): consecutive ${granularity}-byte lines rotate over ${targets.map((t) => t.memdev).join(', ')}` : ''}`,
    `capacity: ${humanSize(perDevice)} from each memdev = ${humanSize(size)}${o.size === undefined ? ' (all the free volatile capacity the memdevs have in common)' : ''}`,
    ...targets.map((t) => `  position ${t.position}: ${t.memdev} via ${t.decoder} (host bridge ${t.hostBridge}, root port ${t.dport})`),
  );
  return {rootDecoder: root.name, region: root.nextRegion, ways, granularity, perDevice, size, targets, notes};
}

/** The memdevs form an interleave the kernel builds: a power-of-two ways per host bridge, the same under each. */
function checkInterleave(topo: CxlTopology, paths: MemdevPath[], hbIds: number[]): void {
  const ways = paths.length;
  const hbWays = hbIds.length;
  const device = paths.map((p) => p.memdev).join(',');
  if (!WAYS.includes(ways) || ways % hbWays !== 0 || !Number.isInteger(Math.log2(ways / hbWays))) {
    throw new UsageError(`${ways} memdev(s) across ${hbWays} host bridge(s) is not an interleave the kernel builds`, {
      device,
      fix: `use 1, 2, 4, 8 or 16 memdevs per host bridge, the same number under each (ways: ${WAYS.join(', ')})`,
    });
  }
  const perHb = ways / hbWays;
  for (const id of hbIds) {
    const n = paths.filter((p) => hostBridgeId(topo, p.hb) === id).length;
    if (n !== perHb) throw new UsageError(`host bridge ${id} has ${n} of the memdevs, the others ${perHb}`, {device, fix: 'an interleave needs the same number of memdevs under each host bridge'});
  }
}

/** The free volatile capacity the memdevs have in common; a memdev with none is refused, naming what holds it. */
function leastFree(topo: CxlTopology, memdevs: string[]): bigint {
  const free = memdevs.map((m) => topo.memdevs.find((x) => x.name === m)!.ramFree);
  for (let i = 0; i < memdevs.length; i++) {
    if (free[i] >= CXL_GRANULE) continue;
    const used = topo.regions.filter((r) => r.memdevs.includes(memdevs[i])).map((r) => r.name);
    throw new UsageError(`${memdevs[i]} has no free volatile capacity (${humanSize(free[i])})`, {
      device: memdevs[i],
      fix: used.length ? `it is in ${used.join(', ')}: daxram release ${used[0]} frees it` : 'its volatile partition is allocated to other decoders',
    });
  }
  return free.reduce((a, b) => (b < a ? b : a));
}

/** The size asked (checked against the memdevs and the window), or all the memdevs have in common that the window still fits. */
function regionSize(root: string, hpaFree: bigint, memdevs: string[], minFree: bigint, asked: bigint | undefined, notes: string[]): bigint {
  const ways = BigInt(memdevs.length);
  const unit = CXL_GRANULE * ways;
  let size: bigint;
  if (asked !== undefined) {
    if (asked <= 0n || asked % unit !== 0n) {
      throw new UsageError(`--size ${humanSize(asked)} is not a multiple of ${humanSize(unit)} (256 MiB per memdev × ${ways})`, {device: memdevs.join(','), fix: `try --size ${humanSize(((asked + unit - 1n) / unit) * unit)}`});
    }
    if (asked / ways > minFree) {
      throw new UsageError(`--size ${humanSize(asked)} needs ${humanSize(asked / ways)} from each memdev; the least free has ${humanSize(minFree)}`, {device: memdevs.join(','), fix: `at most --size ${humanSize((minFree / CXL_GRANULE) * unit)}`});
    }
    size = asked;
  } else {
    size = (minFree / CXL_GRANULE) * unit;
    const fit = (hpaFree / unit) * unit;
    if (fit < size) {
      notes.push(`${root} has ${humanSize(hpaFree)} of host address space left: the region is cut to ${humanSize(fit)}`);
      size = fit;
    }
  }
  if (size === 0n || size > hpaFree) {
    throw new UsageError(`${root} has ${humanSize(hpaFree)} of host address space left, not ${humanSize(size)}`, {device: root, fix: 'release a region under it, or ask for less with --size'});
  }
  return size;
}

/**
 * Positions: the root decoder interleaves host bridges in target_list order (position p goes to
 * host bridge p mod hbWays); under each bridge, memdevs in root-port order. Each memdev's first
 * free endpoint decoder takes its position.
 */
function placeTargets(topo: CxlTopology, root: CxlDecoder, paths: MemdevPath[], hbIds: number[]): CxlTarget[] {
  const hbOrder = root.targets.map(Number).filter((id) => hbIds.includes(id));
  const targets: CxlTarget[] = [];
  hbOrder.forEach((id, i) => {
    const under = paths.filter((p) => hostBridgeId(topo, p.hb) === id).sort((a, b) => a.dport - b.dport);
    under.forEach((p, k) => {
      const decoder = topo.decoders
        .filter((d) => d.port === p.ep.name)
        .sort((a, b) => Number(a.name.split('.')[1]) - Number(b.name.split('.')[1]))
        .find((d) => (d.dpaSize ?? 0n) === 0n && !d.region);
      if (!decoder) throw new UsageError(`every endpoint decoder of ${p.memdev} is in use`, {device: p.memdev, fix: `release a region of ${p.memdev} first (daxram list --cxl)`});
      targets.push({position: k * hbIds.length + i, memdev: p.memdev, decoder: decoder.name, hostBridge: p.hb.host, dport: p.dport});
    });
  });
  return targets.sort((a, b) => a.position - b.position);
}

// Where devdax namespaces go in a region so kmem can online as much as possible. kmem only adds
// whole memory blocks, so what matters is where each namespace's *data* starts and ends: the
// namespace begins with an 8 KiB info block and, with map=dev, the struct-page array for the
// whole namespace (64 bytes per 4 KiB page), rounded up to the device align. The data of
// a RAM namespace should therefore end on a block boundary and start as early as possible
// inside its first block; everything before the first block boundary is lost to kmem anyway,
// so the struct pages are put there (map=dev) whenever they fit, and in DRAM (map=mem)
// only when they would spill into a second block.

import {humanSize} from '../util/size';
import {alignDown, alignUp, PAGE} from '../util/ranges';
import {STRUCT_PAGE} from '../model/memmap';

export const INFO_BLOCK = 8192n;

export type MapLocation = 'dev' | 'mem';

/** Offset of the data from the namespace start, as nd_pfn_init() computes it. */
export function dataOffset(start: bigint, size: bigint, map: MapLocation, align: bigint): bigint {
  const npfns = (size - INFO_BLOCK) / PAGE;
  const end = map === 'dev' ? start + INFO_BLOCK + STRUCT_PAGE * npfns : start + INFO_BLOCK;
  return alignUp(end, align) - start;
}

export interface PlannedNamespace {
  role: 'ram' | 'devdax';
  start: bigint;
  size: bigint;
  map: MapLocation;
  align: bigint;
  /** Data range (the dax device). */
  dataStart: bigint;
  dataEnd: bigint;
  /** What kmem can online of it (0 for devdax). */
  kmemBlocks: number;
  why: string;
}

export interface Layout {
  region: {start: bigint; size: bigint; align: bigint};
  blockSize: bigint;
  namespaces: PlannedNamespace[];
  ramBytes: bigint;
  /** The whole memory blocks inside the region minus one (for the info block): the most kmem can get. */
  target: bigint;
}

function blocksIn(start: bigint, end: bigint, bs: bigint): number {
  const s = alignUp(start, bs);
  const e = alignDown(end, bs);
  return e > s ? Number((e - s) / bs) : 0;
}

function ramNamespace(start: bigint, size: bigint, align: bigint, bs: bigint): PlannedNamespace {
  // Prefer map=dev: the struct pages then live in the head kmem cannot use anyway.
  const headRoom = alignUp(start + 1n, bs) - start;
  const dDev = dataOffset(start, size, 'dev', align);
  const map: MapLocation = dDev <= headRoom ? 'dev' : 'mem';
  const d = map === 'dev' ? dDev : dataOffset(start, size, 'mem', align);
  const dataEnd = alignDown(start + size, align);
  return {
    role: 'ram',
    start,
    size,
    map,
    align,
    dataStart: start + d,
    dataEnd,
    kmemBlocks: blocksIn(start + d, dataEnd, bs),
    why:
      map === 'dev'
        ? `map=dev: its ${humanSize(d)} of info block + struct pages fit in the ${humanSize(headRoom)} before the first block boundary, which kmem cannot online anyway`
        : `map=mem: struct pages on the device (${humanSize(dDev)}) would spill past the first block boundary; kept in DRAM instead (${humanSize((size / PAGE) * STRUCT_PAGE)})`,
  };
}

/**
 * Lay out a region: one RAM namespace of at least `ram` bytes of kmem capacity (all of it when
 * undefined), starting at the region start, ending on a block boundary; the rest one devdax
 * namespace (map=dev: struct pages on the device, no DRAM cost).
 */
export function layoutRegion(region: {start: bigint; size: bigint; align: bigint}, bs: bigint, ram: bigint | undefined, align = 2n << 20n): Layout {
  // Namespace sizes are multiples of the region align; a tail shorter than that (QEMU carves
  // the label area off the end) cannot be allocated.
  const usable = alignDown(region.size, region.align);
  const end = region.start + usable;
  const nss: PlannedNamespace[] = [];
  const ramSize = (() => {
    if (ram === undefined) return usable;
    if (ram === 0n) return 0n;
    // First block boundary after the info block (+ struct pages if they fit), then `ram` of blocks.
    const blocks = alignUp(ram, bs);
    let z = alignUp(alignUp(region.start + INFO_BLOCK + 1n, bs) + blocks - region.start, region.align);
    // map=dev may push the data start past the first boundary for large namespaces; grow until it fits.
    while (ramNamespace(region.start, z, align, bs).kmemBlocks * Number(bs) < Number(blocks) && z < usable) z += bs;
    return z > usable ? usable : z;
  })();
  if (ramSize > 0n) nss.push(ramNamespace(region.start, ramSize, align, bs));
  if (ramSize < usable) {
    const s = region.start + ramSize;
    const z = end - s;
    const d = dataOffset(s, z, 'dev', align);
    nss.push({role: 'devdax', start: s, size: z, map: 'dev', align, dataStart: s + d, dataEnd: alignDown(end, align), kmemBlocks: 0, why: 'devdax: map=dev keeps its struct pages on the device, no DRAM cost'});
  }
  const ramBytes = nss.filter((n) => n.role === 'ram').reduce((a, n) => a + BigInt(n.kmemBlocks) * bs, 0n);
  return {region, blockSize: bs, namespaces: nss, ramBytes, target: BigInt(Math.max(0, blocksIn(region.start, region.start + region.size, bs) - 1)) * bs};
}

export function describeLayout(l: Layout): string[] {
  const out = [
    `layout of ${humanSize(l.region.size)} at 0x${l.region.start.toString(16)} (memory block ${humanSize(l.blockSize)}, region align ${humanSize(l.region.align)}):`,
  ];
  l.namespaces.forEach((n, i) => {
    out.push(
      `  ${i + 1}. ${n.role.padEnd(6)} namespace 0x${n.start.toString(16)}+${humanSize(n.size)}, align ${humanSize(n.align)}, data 0x${n.dataStart.toString(16)}-0x${(n.dataEnd - 1n).toString(16)}` +
        (n.role === 'ram' ? ` → kmem onlines ${n.kmemBlocks} block(s) = ${humanSize(BigInt(n.kmemBlocks) * l.blockSize)}` : ` → devdax ${humanSize(n.dataEnd - n.dataStart)}`),
    );
    out.push(`     ${n.why}`);
  });
  out.push(`  RAM: ${humanSize(l.ramBytes)} of the ${humanSize(l.region.size)} region (the most kmem can get: its whole ${humanSize(l.blockSize)} blocks minus the one holding the info block = ${humanSize(l.target)})`);
  return out;
}

// daxX.Y on the dax bus: a device-dax instance, the unit kmem turns into System RAM. Its driver
// says how it is used now; its physical ranges decide which memory blocks kmem would add.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {parseBigAttr} from '../sysfs';
import {SysfsError} from '../errors';
import type {DaxDevice, DaxMode, Range} from './types';
import {idOf, needBig, optBig, optInt} from './attr';

export const DAX_DEVICES = '/sys/bus/dax/devices';

export function modeOfDriver(driver: string | undefined): DaxMode {
  if (driver === undefined) return 'disabled';
  if (driver === 'kmem') return 'system-ram';
  if (driver === 'device_dax') return 'devdax';
  return 'unknown';
}

/** One range as kmem will add it: rounded inward to the block size (dax_kmem_range()). */
export interface KmemRange {
  range: Range;
  /** First memory block id and count; count 0 when the range is smaller than a block after alignment. */
  firstBlock: number;
  blocks: number;
  lostHead: bigint;
  lostTail: bigint;
}

export function kmemRanges(ranges: Range[], bs: bigint): KmemRange[] {
  return ranges.map((r) => {
    const start = ((r.start + bs - 1n) / bs) * bs;
    const end = ((r.start + r.size) / bs) * bs;
    const blocks = end > start ? Number((end - start) / bs) : 0;
    return {
      range: r,
      firstBlock: Number(start / bs),
      blocks,
      lostHead: blocks ? start - r.start : r.size,
      lostTail: blocks ? r.start + r.size - end : 0n,
    };
  });
}

/**
 * Bytes and blocks kmem can add for these ranges: kmem rounds each range inward to the memory
 * block size, so a range's unaligned head and tail are lost.
 */
export function kmemCapacity(ranges: Range[], blockSize: bigint): {bytes: bigint; blocks: number; firstBlocks: Array<[number, number]>} {
  let bytes = 0n;
  let blocks = 0;
  const spans: Array<[number, number]> = [];
  if (blockSize <= 0n) return {bytes, blocks, firstBlocks: spans};
  for (const k of kmemRanges(ranges, blockSize)) {
    if (k.blocks === 0) continue;
    bytes += BigInt(k.blocks) * blockSize;
    blocks += k.blocks;
    spans.push([k.firstBlock, k.blocks]);
  }
  return {bytes, blocks, firstBlocks: spans};
}

/** mappingN/{start,end,page_offset}: end is inclusive. Sorted by page_offset (device order). */
export function readDaxRanges(sysfs: Sysfs, name: string, dir: string): Range[] {
  const ranges: Array<Range & {pgoff: bigint}> = [];
  for (const m of sysfs.list(dir, /^mapping\d+$/)) {
    const p = `${dir}/${m}`;
    const start = optBig(sysfs, `${p}/start`, name);
    const end = optBig(sysfs, `${p}/end`, name);
    if (start === undefined || end === undefined) continue; // mapping being torn down
    if (end < start) throw new SysfsError(`${p}: end ${end} is below start ${start}`, {path: `${p}/end`, device: name});
    const pgoff = optBig(sysfs, `${p}/page_offset`, name) ?? 0n;
    ranges.push({start, size: end - start + 1n, pgoff});
  }
  ranges.sort((a, b) => (a.pgoff < b.pgoff ? -1 : a.pgoff > b.pgoff ? 1 : 0));
  return ranges.map(({start, size}) => ({start, size}));
}

/** Where a dax device sits in /sys/devices: its NVDIMM origin, if any, from the path. */
export interface DaxOrigin {
  /** Resolved /sys/devices/… path of the device. */
  real: string;
  bus?: string; // ndbus0
  region?: string; // region0
  /** The nd_dax seed (daxX.Y on the nd bus) that created this device. */
  seed?: string;
  /** Resolved path of the region directory. */
  regionDir?: string;
}

/** ndbus0/region0/dax0.0/dax0.0 → bus ndbus0, region region0, seed dax0.0. hmem/CXL → {}. */
export function parseDaxOrigin(real: string): DaxOrigin {
  const parts = real.split('/');
  const origin: DaxOrigin = {real};
  for (let i = 0; i < parts.length - 1; i++) {
    if (/^ndbus\d+$/.test(parts[i]) && /^region\d+$/.test(parts[i + 1] ?? '')) {
      origin.bus = parts[i];
      origin.region = parts[i + 1];
      origin.regionDir = parts.slice(0, i + 2).join('/');
      const seed = parts[i + 2];
      if (seed !== undefined && i + 3 < parts.length && /^dax\d+\.\d+$/.test(seed)) origin.seed = seed;
      break;
    }
  }
  return origin;
}

/** Read daxX.Y. Links (namespace, region, bus, memblocks) are left for the scan to fill. */
export function readDaxDevice(sysfs: Sysfs, name: string, blockSize: bigint, warnings: string[] = []): {dev: DaxDevice; origin: DaxOrigin} {
  const dir = `${DAX_DEVICES}/${name}`;
  const size = needBig(sysfs, `${dir}/size`, name);
  const driver = sysfs.linkName(`${dir}/driver`);
  let ranges: Range[] = [];
  try {
    ranges = readDaxRanges(sysfs, name, dir);
    if (ranges.length === 0 && size > 0n) {
      // Kernels before mappingN (5.9) have one range: resource + size.
      const resRaw = sysfs.readOptional(`${dir}/resource`, name);
      if (resRaw !== undefined) ranges = [{start: parseBigAttr(resRaw, `${dir}/resource`, name), size}];
    }
  } catch (e) {
    // resource and mappingN/* are mode 0400: physical addresses are root's business. Without
    // them the device is still listed, but its blocks and kmem capacity are unknown.
    if (!(e instanceof SysfsError) || e.code !== 'EACCES') throw e;
    warnings.push(`${name}: cannot read its physical ranges (${e.path}: EACCES); run as root for memory blocks and kmem capacity`);
    ranges = [];
  }
  const cap = kmemCapacity(ranges, blockSize);
  const dev: DaxDevice = {
    name,
    sysPath: dir,
    chardev: name,
    daxRegion: idOf(name),
    size,
    ranges,
    align: optBig(sysfs, `${dir}/align`, name) ?? 0n,
    targetNode: optInt(sysfs, `${dir}/target_node`, name, -1),
    numaNode: optInt(sysfs, `${dir}/numa_node`, name, -1),
    mode: modeOfDriver(driver),
    memblocks: [],
    kmemCapacity: cap.bytes,
    kmemBlocks: cap.blocks,
  };
  if (driver !== undefined) dev.driver = driver;
  const origin = parseDaxOrigin(sysfs.real(dir));
  if (!origin.bus) {
    // Not under an NVDIMM bus: hmem (platform/hmem.N) or CXL (…/dax_regionN). Record the parent
    // so a list can say where it came from.
    dev.provider = path.posix.basename(path.posix.dirname(origin.real));
  }
  return {dev, origin};
}

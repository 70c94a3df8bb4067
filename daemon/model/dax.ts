// daxX.Y on the dax bus: a device-dax instance, the unit kmem turns into System RAM. Its driver
// says how it is used now; its physical ranges decide which memory blocks kmem would add; its
// place in /sys/devices says where it comes from (an NVDIMM namespace, a soft-reserved range,
// a CXL region). One reader serves the full scan and every single-device question.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {parseBigAttr} from '../sysfs';
import {NotFoundError, SysfsError, UsageError} from '../errors';
import type {DaxDevice, DaxMode, DaxOrigin, Range} from './types';
import {DeviceBlocks} from './memblock';

export type {DaxOrigin};
import {idOf, needBig, optBig, optInt} from './attr';
import {readBlockSize} from './hotplug';

export const DAX_DEVICES = '/sys/bus/dax/devices';
export const DAX_DRIVERS = '/sys/bus/dax/drivers';

const DAX_NAME_RE = /^dax[0-9]+\.[0-9]+$/;
const NAMESPACE_RE = /^namespace[0-9]+\.[0-9]+$/;

export function isDaxName(s: string): boolean {
  return DAX_NAME_RE.test(s);
}

/** On the nd bus (an NVDIMM or e820 region, a namespace, badblocks): what libnvdimm knows about it applies. */
export function onNdBus(o: DaxOrigin): boolean {
  return o.kind === 'nvdimm' || o.kind === 'e820';
}

/** A usage error (exit 2) for anything that is not a kernel dax device name. */
export function checkDaxName(name: string): void {
  if (!DAX_NAME_RE.test(name)) {
    throw new UsageError(`"${name}" is not a dax device name`, {device: name, fix: 'name a device like dax0.0 (see daxram list)'});
  }
}

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
 * Bytes of a System RAM device's memory blocks online and offline, at the block size its scan
 * saw (its kmem capacity over its block count): the one place the daemon's status, metrics and
 * node labels turn a block count into bytes.
 */
export function memblockBytes(dev: DaxDevice): {online: bigint; offline: bigint} {
  const bs = dev.kmemBlocks > 0 ? dev.kmemCapacity / BigInt(dev.kmemBlocks) : 0n;
  const on = dev.memblocks.online;
  return {online: BigInt(on) * bs, offline: BigInt(dev.memblocks.length - on) * bs};
}

/**
 * Bytes and blocks kmem can add for these ranges: kmem rounds each range inward to the memory
 * block size, so a range's unaligned head and tail are lost. `runs`: each range's block ids,
 * [first, end) as idRuns gives them.
 */
export function kmemCapacity(ranges: Range[], blockSize: bigint): {bytes: bigint; blocks: number; runs: Array<[number, number]>} {
  let bytes = 0n;
  let blocks = 0;
  const runs: Array<[number, number]> = [];
  if (blockSize <= 0n) return {bytes, blocks, runs};
  for (const k of kmemRanges(ranges, blockSize)) {
    if (k.blocks === 0) continue;
    bytes += BigInt(k.blocks) * blockSize;
    blocks += k.blocks;
    runs.push([k.firstBlock, k.firstBlock + k.blocks]);
  }
  return {bytes, blocks, runs};
}

/** Memory block ids kmem adds for these ranges, ascending within each range. */
export function kmemBlockIds(ranges: Range[], bs: bigint): number[] {
  const ids: number[] = [];
  for (const k of kmemRanges(ranges, bs)) for (let i = 0; i < k.blocks; i++) ids.push(k.firstBlock + i);
  return ids;
}

/**
 * mappingN/{start,end,page_offset}: end is inclusive. In device order (page_offset), so the
 * first range is the one at the device's offset 0: what mapping0/start and a config's
 * `resource =` name, whatever the physical order of the ranges.
 */
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

/**
 * ndbus0/region0/dax0.0/dax0.0 → nvdimm, bus ndbus0, region region0, seed dax0.0;
 * …/hmem.0/dax0.0 → hmem; …/regionN/dax_regionN/daxN.0 under a CXL root → cxl.
 */
export function parseDaxOrigin(real: string): DaxOrigin {
  const parts = real.split('/');
  const parentDir = parts.slice(0, -1).join('/');
  const origin: DaxOrigin = {real, kind: 'other', provider: path.posix.basename(parentDir)};
  for (let i = 0; i < parts.length - 1; i++) {
    if (/^ndbus\d+$/.test(parts[i]) && /^region\d+$/.test(parts[i + 1] ?? '')) {
      // The e820 bus (memmap=nn!ss legacy pmem) is an nd bus like any NVDIMM's.
      origin.kind = parts.includes('e820_pmem') ? 'e820' : 'nvdimm';
      delete origin.provider;
      origin.bus = parts[i];
      origin.busDir = parts.slice(0, i + 1).join('/');
      origin.region = parts[i + 1];
      origin.regionDir = parts.slice(0, i + 2).join('/');
      const seed = parts[i + 2];
      if (seed !== undefined && i + 3 < parts.length && /^dax\d+\.\d+$/.test(seed)) {
        origin.seed = seed;
        origin.seedDir = parts.slice(0, i + 3).join('/');
      }
      return origin;
    }
  }
  if (/^hmem\.\d+$/.test(origin.provider ?? '')) {
    origin.kind = 'hmem';
    return origin;
  }
  // CXL: …/root0/…/decoderX.Y/regionN/dax_regionN/daxN.0
  const dr = parts.length - 2;
  if (/^dax_region\d+$/.test(parts[dr] ?? '') && /^region\d+$/.test(parts[dr - 1] ?? '') && parts.some((p) => /^root\d+$/.test(p))) {
    origin.kind = 'cxl';
    origin.region = parts[dr - 1];
    origin.regionDir = parts.slice(0, dr).join('/');
  }
  return origin;
}

export interface ReadDaxOptions {
  /** Memory block size for kmem capacity (read when absent). */
  blockSize?: bigint;
  /** Collects "cannot read the physical ranges (EACCES)" instead of throwing: list works unprivileged. */
  warnings?: string[];
}

/**
 * Read daxX.Y: size, driver, ranges (device order), align, nodes, origin and, for a devdax
 * namespace, its two uuids. Links to other objects (namespace, region, bus, memblocks) are
 * the scan's job. Throws NotFoundError when the device does not exist.
 */
export function readDax(sysfs: Sysfs, name: string, o: ReadDaxOptions = {}): DaxDevice {
  checkDaxName(name);
  const dir = `${DAX_DEVICES}/${name}`;
  if (!sysfs.exists(dir)) {
    const known = sysfs.list(DAX_DEVICES, DAX_NAME_RE).join(', ') || 'none';
    throw new NotFoundError('no such dax device', {device: name, path: dir, fix: `dax devices present: ${known} (see daxram list)`});
  }
  const size = needBig(sysfs, `${dir}/size`, name);
  const driver = sysfs.linkName(`${dir}/driver`);
  let ranges: Range[] = [];
  try {
    ranges = readDaxRanges(sysfs, name, dir);
    if (ranges.length === 0 && size > 0n) {
      // Kernels before mappingN (5.9) have one range: resource + size.
      const resRaw = sysfs.readOptional(`${dir}/resource`, name);
      if (resRaw !== undefined) ranges = [{start: parseBigAttr(resRaw.startsWith('0x') ? resRaw : `0x${resRaw}`, `${dir}/resource`, name), size}];
    }
  } catch (e) {
    // resource and mappingN/* are mode 0400: physical addresses are root's business. Without
    // them the device is still listed, but its blocks and kmem capacity are unknown.
    if (!o.warnings || !(e instanceof SysfsError) || e.code !== 'EACCES') throw e;
    o.warnings.push(`${name}: cannot read its physical ranges (${e.path}: EACCES); run as root for memory blocks and kmem capacity`);
    ranges = [];
  }
  const bs = o.blockSize ?? readBlockSize(sysfs);
  const cap = kmemCapacity(ranges, bs);
  const origin = parseDaxOrigin(sysfs.real(dir));
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
    origin,
    uuids: readUuids(sysfs, origin, name),
    memblocks: DeviceBlocks.NONE,
    kmemCapacity: cap.bytes,
    kmemBlocks: cap.blocks,
  };
  if (driver !== undefined) dev.driver = driver;
  if (origin.kind !== 'nvdimm') dev.provider = origin.provider;
  return dev;
}

/**
 * A devdax namespace has two uuids: the dax info block's (the nd seed's uuid, which `ndctl
 * list` prints as "uuid" and daxctl.conf.d's nvdimm.uuid means) and the namespace label's
 * (ndctl's raw_uuid). The seed names its namespace: it is the authority, the path only finds
 * the seed.
 */
function readUuids(sysfs: Sysfs, o: DaxOrigin, device: string): DaxDevice['uuids'] {
  if (!o.seedDir || !o.regionDir) return {};
  const clean = (u: string | undefined) => {
    const s = u?.trim().toLowerCase();
    return s && !/^[0-]*$/.test(s) ? s : undefined;
  };
  const ns = sysfs.readOptional(`${o.seedDir}/namespace`, device)?.trim();
  const ids: DaxDevice['uuids'] = {};
  const info = clean(sysfs.readOptional(`${o.seedDir}/uuid`, device));
  if (info) ids.infoBlock = info;
  if (ns && NAMESPACE_RE.test(ns)) {
    ids.namespaceName = ns;
    const u = clean(sysfs.readOptional(`${o.regionDir}/${ns}/uuid`, ns));
    if (u) ids.namespace = u;
  }
  return ids;
}

/** Only the driver link of a dax device: re-read between steps without its mappings. */
export function daxDriver(sysfs: Sysfs, name: string): string | undefined {
  checkDaxName(name);
  return sysfs.linkName(`${DAX_DEVICES}/${name}/driver`);
}

/** Whether a dax bus driver (kmem, device_dax) is registered: its directory exists once its module is loaded. */
export function daxDriverLoaded(sysfs: Sysfs, driver: string): boolean {
  return sysfs.exists(daxDriverDir(driver));
}

export function daxDriverDir(driver: string): string {
  return `${DAX_DRIVERS}/${driver}`;
}

/** Names of every dax device present, naturally sorted. */
export function listDax(sysfs: Sysfs): string[] {
  return sysfs.list(DAX_DEVICES, DAX_NAME_RE);
}

// The engine's live view of one dax device and its memory blocks. The model's scan is a
// snapshot; a transition must re-read the kernel after every step (the driver link, which blocks
// exist, which are online), so this reads only what a step decides on, fresh each time.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {NotFoundError, UsageError} from '../errors';
import type {Range} from '../model/types';
import {kmemRanges, type KmemRange} from '../model/dax';
import {parseBlockSize} from '../model/hotplug';

export {kmemRanges, type KmemRange};

export const DAX_DEVICES = '/sys/bus/dax/devices';
export const DAX_DRIVERS = '/sys/bus/dax/drivers';
export const MEMORY = '/sys/devices/system/memory';
export const NODE = '/sys/devices/system/node';

const DAX_NAME_RE = /^dax[0-9]+\.[0-9]+$/;

export interface DaxState {
  name: string;
  /** /sys/bus/dax/devices/daxX.Y */
  sysPath: string;
  /** Resolved kernel path, e.g. /sys/devices/platform/ACPI0012:00/ndbus0/region0/dax0.0/dax0.0 */
  realPath: string;
  driver?: string;
  targetNode: number;
  size: bigint;
  align: bigint;
  ranges: Range[];
  /** libnvdimm region (regionN) and bus (ndbusN) above the device, when it comes from one. */
  region?: string;
  regionPath?: string;
  bus?: string;
  busPath?: string;
}

export function checkDaxName(name: string): void {
  if (!DAX_NAME_RE.test(name)) {
    throw new UsageError(`"${name}" is not a dax device name`, {device: name, fix: 'name a device like dax0.0 (see daxram list)'});
  }
}

export function readDax(sysfs: Sysfs, name: string): DaxState {
  checkDaxName(name);
  const sysPath = `${DAX_DEVICES}/${name}`;
  if (!sysfs.exists(sysPath)) {
    throw new NotFoundError(`no such dax device`, {device: name, path: sysPath, fix: 'list devices with: daxram list'});
  }
  const realPath = sysfs.real(sysPath);
  const ranges: Range[] = [];
  for (const m of sysfs.list(sysPath, /^mapping[0-9]+$/)) {
    const start = sysfs.readBig(`${sysPath}/${m}/start`, name);
    const end = sysfs.readBig(`${sysPath}/${m}/end`, name);
    ranges.push({start, size: end - start + 1n});
  }
  const size = sysfs.readBig(`${sysPath}/size`, name);
  if (ranges.length === 0 && size > 0n) {
    // Kernels before the mappingN objects (< 5.10) expose one range as resource + size.
    const res = sysfs.readOptional(`${sysPath}/resource`, name);
    if (res !== undefined) ranges.push({start: BigInt(res.startsWith('0x') ? res : '0x' + res), size});
  }
  ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const st: DaxState = {
    name,
    sysPath,
    realPath,
    driver: sysfs.linkName(`${sysPath}/driver`),
    targetNode: sysfs.readInt(`${sysPath}/target_node`, name),
    size,
    align: BigInt(sysfs.readOptional(`${sysPath}/align`, name) ?? '0'),
    ranges,
  };
  const parts = realPath.split('/');
  for (let i = parts.length - 1; i > 0; i--) {
    if (!st.region && /^region[0-9]+$/.test(parts[i])) {
      st.region = parts[i];
      st.regionPath = parts.slice(0, i + 1).join('/');
    }
    if (!st.bus && /^ndbus[0-9]+$/.test(parts[i])) {
      st.bus = parts[i];
      st.busPath = parts.slice(0, i + 1).join('/');
    }
  }
  return st;
}

/** block_size_bytes (hex without 0x), validated as the model validates it. */
/**
 * The uuids a reservation may name a device by: its namespace's (ndctl's raw_uuid) and its dax
 * info block's (what ndctl list shows as "uuid"). None for devices without a namespace (hmem).
 */
export function namespaceUuids(sysfs: Sysfs, dev: DaxState): string[] {
  const ids = namespaceIds(sysfs, dev);
  return [ids.infoBlock, ids.namespace].filter((u): u is string => !!u);
}

/** The namespace's own uuid and the dax info block's, each when the device has one. */
export function namespaceIds(sysfs: Sysfs, dev: DaxState): {namespace?: string; infoBlock?: string} {
  if (!dev.regionPath) return {};
  const claim = dev.realPath.slice(0, dev.realPath.lastIndexOf('/')); // regionN/daxX.Y: the nd dax claim
  if (!/\/dax[0-9]+\.[0-9]+$/.test(claim)) return {};
  const infoBlock = sysfs.readOptional(`${claim}/uuid`, dev.name)?.trim().toLowerCase() || undefined;
  const ns = sysfs.readOptional(`${claim}/namespace`, dev.name)?.trim();
  const namespace = ns && /^namespace[0-9]+\.[0-9]+$/.test(ns) ? sysfs.readOptional(`${dev.regionPath}/${ns}/uuid`, ns)?.trim().toLowerCase() || undefined : undefined;
  return {namespace, infoBlock};
}

export function blockSize(sysfs: Sysfs): bigint {
  const p = `${MEMORY}/block_size_bytes`;
  return parseBlockSize(sysfs.read(p), p);
}

export function autoOnlineBlocks(sysfs: Sysfs): string {
  return sysfs.readOptional(`${MEMORY}/auto_online_blocks`) ?? 'offline';
}

/** Memory block ids kmem adds for these ranges, ascending. */
export function kmemBlockIds(ranges: Range[], bs: bigint): number[] {
  const ids: number[] = [];
  for (const k of kmemRanges(ranges, bs)) for (let i = 0; i < k.blocks; i++) ids.push(k.firstBlock + i);
  return ids;
}

export interface BlockState {
  id: number;
  name: string;
  path: string;
  present: boolean;
  state?: string; // online | offline | going-offline
  zones: string[];
  node?: number;
}

/** Only the state attribute (undefined: the block is gone): what a step's skip check needs. */
export function blockStateOf(sysfs: Sysfs, id: number): string | undefined {
  return sysfs.readOptional(`${MEMORY}/memory${id}/state`, `memory${id}`)?.trim();
}

/** Only the driver link of a dax device: re-read between steps without its mappings. */
export function daxDriver(sysfs: Sysfs, name: string): string | undefined {
  checkDaxName(name);
  return sysfs.linkName(`${DAX_DEVICES}/${name}/driver`);
}

export function readBlock(sysfs: Sysfs, id: number): BlockState {
  const name = `memory${id}`;
  const p = `${MEMORY}/${name}`;
  if (!sysfs.exists(p)) return {id, name, path: p, present: false, zones: []};
  const nodeLink = sysfs.list(p, /^node[0-9]+$/)[0];
  return {
    id,
    name,
    path: p,
    present: true,
    state: sysfs.read(`${p}/state`, name).trim(),
    zones: (sysfs.readOptional(`${p}/valid_zones`, name) ?? '').trim().split(/\s+/).filter(Boolean),
    node: nodeLink === undefined ? undefined : Number(nodeLink.slice(4)),
  };
}

export type ZoneRequest = 'movable' | 'normal' | 'auto';

/** The memoryN/state value that asks for a zone. */
export function onlineValue(zone: ZoneRequest): string {
  return zone === 'movable' ? 'online_movable' : zone === 'normal' ? 'online_kernel' : 'online';
}

/** Whether an online block's zone (its valid_zones) satisfies the request. */
export function zoneMatches(zone: ZoneRequest, zones: string[]): boolean {
  if (zone === 'auto') return true;
  if (zone === 'movable') return zones.length === 1 && zones[0] === 'Movable';
  return zones.length === 1 && zones[0] !== 'Movable';
}

/** "MemTotal" etc. from /proc/meminfo or a node's meminfo, in bytes. */
export function meminfo(sysfs: Sysfs, node?: number): Map<string, bigint> {
  const file = node === undefined ? '/proc/meminfo' : path.posix.join(NODE, `node${node}`, 'meminfo');
  const out = new Map<string, bigint>();
  const text = sysfs.readOptional(file) ?? '';
  for (const line of text.split('\n')) {
    // "Node 1 MemTotal:  1048576 kB" or "MemTotal:  1048576 kB"
    const m = /^(?:Node\s+\d+\s+)?([A-Za-z_()0-9]+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out.set(m[1], BigInt(m[2]) * (line.trimEnd().endsWith('kB') ? 1024n : 1n));
  }
  return out;
}

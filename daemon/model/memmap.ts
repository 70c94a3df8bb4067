// Where the struct pages of hot-added memory live, as the kernel says now. Each 4 KiB page
// needs a 64-byte struct page: 1/64 of the capacity (2 MiB per 128 MiB block, 16 MiB per GiB,
// ~96 GiB for 6 TiB). By default the kernel allocates them from DRAM on the node nearest the
// memory; with memory_hotplug.memmap_on_memory (a boot switch) and, since 6.8, a device's own
// memmap_on_memory attribute set before kmem binds, at the start of each block of the device.
// The reader for list, status and the engine's decision (engine/memmap.ts) alike.

import {humanSize} from '../util/size';
import {readBlockSize, readMemmapOnMemory} from './hotplug';
import {DAX_DEVICES} from './dax';
import type {Sysfs} from '../sysfs';
import {alignUp, PAGE} from '../util/ranges';

/** Bytes of one struct page. */
export const STRUCT_PAGE = 64n;
const PAGEBLOCK = 2n << 20n;

export interface MemmapFacts {
  /** The boot switch: on (Y or force), off (N), or absent (a kernel built without it). */
  param: 'on' | 'force' | 'off' | 'absent';
  /** The device has memmap_on_memory (6.8+); without it kmem always puts struct pages in DRAM. */
  perDevice: boolean;
  /** The device's attribute now. */
  attr?: boolean;
  /** Struct-page bytes one memory block needs. */
  perBlock: bigint;
}

/** 64 bytes per 4 KiB page of a block, rounded up to a page (and, in force mode, to a pageblock). */
export function memmapPerBlock(bs: bigint, force = false): bigint {
  const bytes = alignUp((bs / PAGE) * STRUCT_PAGE, PAGE);
  return force ? alignUp(bytes, PAGEBLOCK) : bytes;
}

export function memmapFacts(sysfs: Sysfs, device: string, bs = readBlockSize(sysfs)): MemmapFacts {
  const param = readMemmapOnMemory(sysfs);
  const raw = sysfs.readOptional(`${DAX_DEVICES}/${device}/memmap_on_memory`)?.trim();
  const f: MemmapFacts = {param, perDevice: raw !== undefined, perBlock: memmapPerBlock(bs, param === 'force')};
  if (raw !== undefined) f.attr = raw === '1';
  return f;
}

export interface MemmapReport {
  param: MemmapFacts['param'];
  /** System RAM devices: where their struct pages are and how many bytes. */
  devices: {device: string; where: 'device' | 'dram'; bytes: bigint}[];
  /** Struct pages in DRAM now, and what the boot switch would move to the devices. */
  dram: bigint;
  savable: bigint;
  /** One line for list and status. */
  summary: string;
}

/** Where the struct pages of each System RAM dax device are. */
export function memmapReport(sysfs: Sysfs, devices: {name: string; mode: string; memblocks: {length: number}}[]): MemmapReport {
  const bs = readBlockSize(sysfs);
  const param = readMemmapOnMemory(sysfs);
  const on = param === 'on' || param === 'force';
  const out: MemmapReport = {param, devices: [], dram: 0n, savable: 0n, summary: ''};
  for (const d of devices) {
    if (d.mode !== 'system-ram' || d.memblocks.length === 0) continue;
    const f = memmapFacts(sysfs, d.name, bs);
    const bytes = f.perBlock * BigInt(d.memblocks.length);
    const where = on && f.attr ? 'device' : 'dram';
    out.devices.push({device: d.name, where, bytes});
    if (where === 'dram') {
      out.dram += bytes;
      if (!on && f.perDevice && param !== 'absent') out.savable += bytes;
    }
  }
  const onDev = out.devices.filter((x) => x.where === 'device').reduce((a, x) => a + x.bytes, 0n);
  const parts = [`struct pages of dax System RAM: ${humanSize(out.dram)} in DRAM, ${humanSize(onDev)} on the devices`];
  if (out.savable > 0n) parts.push(`booting with memory_hotplug.memmap_on_memory=1 would move ${humanSize(out.savable)} off DRAM (re-online, or let daxramd do it at boot)`);
  else if (!on && out.dram > 0n) parts.push(param === 'absent' ? 'this kernel cannot place them on the devices' : 'this kernel has no per-device memmap_on_memory (6.8+)');
  out.summary = parts.join('; ');
  return out;
}

// Where the struct pages of hot-added memory live. Each 4 KiB page needs a 64-byte struct page:
// 1/64 of the capacity (2 MiB per 128 MiB block, 16 MiB per GiB, ~96 GiB for 6 TiB). By
// default the kernel allocates them from DRAM on the node nearest the memory. With
// memory_hotplug.memmap_on_memory (a boot switch, read-only afterwards) and, since 6.8, a
// device's own memmap_on_memory attribute set before kmem binds, they go at the start of each
// block of the device itself. daxram's policy `memmap = device | dram` decides per device; this
// module reads what the kernel allows and plans the attribute write.

import {humanSize} from '../util/size';
import {readBlockSize, readMemmapOnMemory} from '../model/hotplug';
import {DAX_DEVICES} from '../model/dax';
import type {Sysfs} from '../sysfs';
import {alignUp, PAGE, type Range} from '../util/ranges';
import type {MemmapPolicy} from '../policy/settings';
import {STRUCT_PAGE} from './layout';

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

export interface MemmapDecision {
  /** The attribute value to write before kmem binds (undefined: leave it). */
  write?: '0' | '1';
  /** Where the struct pages will be. */
  where: 'device' | 'dram';
  /** Struct-page bytes of the device's blocks, and what that costs in DRAM. */
  bytes: bigint;
  dram: bigint;
  /** One line for the plan, status and --dry-run. */
  note: string;
  /** Why the policy could not be followed (a warning), if it could not. */
  warning?: string;
}

/**
 * policy device: on the device when the kernel allows it; DRAM otherwise, saying what would
 * allow it and what it would save. A block whose struct-page area holds known poison keeps its
 * struct pages in DRAM: the kernel reads struct pages in kernel mode, where a poisoned line is
 * fatal, and a page there can never be isolated.
 */
export function decideMemmap(policy: MemmapPolicy, f: MemmapFacts, name: string, blocks: number, poisonInMemmap = false): MemmapDecision {
  const bytes = f.perBlock * BigInt(blocks);
  const dramNote = (why: string) => `memmap: ${humanSize(bytes)} of struct pages for ${name} in DRAM (${why})`;
  if (policy === 'dram') {
    return {write: f.perDevice && f.attr ? '0' : undefined, where: 'dram', bytes, dram: bytes, note: dramNote('memmap = dram')};
  }
  if (!f.perDevice) {
    return {where: 'dram', bytes, dram: bytes, note: dramNote('this kernel has no per-device memmap_on_memory (6.8 or later)'), warning: `memmap = device: this kernel puts struct pages of dax memory in DRAM; ${humanSize(bytes)} of DRAM for ${name} (6.8 or later can place them on the device)`};
  }
  if (f.param === 'off' || f.param === 'absent') {
    return {
      write: undefined,
      where: 'dram',
      bytes,
      dram: bytes,
      note: dramNote(f.param === 'off' ? 'the kernel command line does not allow it' : 'this kernel is built without CONFIG_MHP_MEMMAP_ON_MEMORY'),
      warning:
        f.param === 'off'
          ? `memmap = device: booting with memory_hotplug.memmap_on_memory=1 would put ${name}'s struct pages on the device and save ${humanSize(bytes)} of DRAM`
          : `memmap = device: this kernel cannot place struct pages on the device (CONFIG_MHP_MEMMAP_ON_MEMORY); ${humanSize(bytes)} of DRAM`,
    };
  }
  if (poisonInMemmap) {
    return {write: f.attr ? '0' : undefined, where: 'dram', bytes, dram: bytes, note: dramNote('known poison lies where the struct pages would go'), warning: `memmap = device: poison lies in the struct-page area of ${name}'s blocks; its struct pages stay in DRAM (${humanSize(bytes)})`};
  }
  return {write: f.attr ? undefined : '1', where: 'device', bytes, dram: 0n, note: `memmap: ${humanSize(bytes)} of struct pages on ${name} itself (first ${humanSize(f.perBlock)} of each block), no DRAM`};
}

/** Does poison fall in the struct-page area (the first perBlock bytes) of any block? */
export function poisonInMemmapArea(poison: Range[], blockIds: number[], bs: bigint, perBlock: bigint): boolean {
  return blockIds.some((id) => {
    const s = BigInt(id) * bs;
    return poison.some((p) => p.start < s + perBlock && s < p.start + p.size);
  });
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
export function memmapReport(sysfs: Sysfs, devices: {name: string; mode: string; memblocks: unknown[]}[]): MemmapReport {
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

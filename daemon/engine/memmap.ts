// Where the struct pages of a device about to be onlined go: daxram's policy `memmap = device |
// dram`, decided per device against what the kernel allows (model/memmap.ts reads that), and the
// attribute write planned before kmem binds.

import {humanSize} from '../util/size';
import type {Range} from '../util/ranges';
import type {MemmapPolicy} from '../policy/settings';
import type {MemmapFacts} from '../model/memmap';

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
  // Usually no poison at all, against tens of thousands of blocks (and two BigInts each).
  if (poison.length === 0) return false;
  return blockIds.some((id) => {
    const s = BigInt(id) * bs;
    return poison.some((p) => p.start < s + perBlock && s < p.start + p.size);
  });
}

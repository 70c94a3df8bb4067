// Memory tiers (mm/memory-tiers.c, 6.1+): the kernel ranks nodes by abstract distance, DRAM in
// one tier and kmem-added dax memory (pmem, CXL) in a lower one, and can demote cold pages down
// the tiers under reclaim (/sys/kernel/mm/numa/demotion_enabled) and promote hot ones back with
// NUMA balancing in its memory-tiering mode (kernel.numa_balancing bit 2).

import type {Sysfs} from '../sysfs';
import {parseIdRanges} from '../util/ranges';

export const TIERS_DIR = '/sys/devices/virtual/memory_tiering';
export const DEMOTION = '/sys/kernel/mm/numa/demotion_enabled';
export const NUMA_BALANCING = '/proc/sys/kernel/numa_balancing';
/** kernel.numa_balancing bits: 1 normal (NUMA locality), 2 memory tiering (promotion). */
export const NUMA_BALANCING_TIERING = 2;

export interface MemoryTier {
  /** N of memory_tierN: lower is faster. */
  id: number;
  nodes: number[];
}

export interface TieringState {
  tiers: MemoryTier[];
  /** undefined: the kernel has no such switch. */
  demotion?: boolean;
  numaBalancing?: number;
  /** Promotion of hot pages from lower tiers (numa_balancing's tiering bit). */
  promotion?: boolean;
}

export function readTiers(sysfs: Sysfs): MemoryTier[] {
  return sysfs
    .list(TIERS_DIR, /^memory_tier\d+$/)
    .map((t) => ({id: Number(t.slice('memory_tier'.length)), nodes: parseIdRanges(sysfs.readOptional(`${TIERS_DIR}/${t}/nodelist`) ?? '')}))
    .sort((a, b) => a.id - b.id);
}

export function readTiering(sysfs: Sysfs): TieringState {
  const st: TieringState = {tiers: readTiers(sysfs)};
  const d = sysfs.readOptional(DEMOTION)?.trim();
  if (d !== undefined) st.demotion = d === 'true' || d === '1' || d === 'Y';
  const nb = sysfs.readOptional(NUMA_BALANCING)?.trim();
  if (nb !== undefined && /^\d+$/.test(nb)) {
    st.numaBalancing = Number(nb);
    st.promotion = (st.numaBalancing & NUMA_BALANCING_TIERING) !== 0;
  }
  return st;
}

/** The tier a node is in (undefined: no tiers, or a memoryless node). */
export function tierOf(tiers: MemoryTier[], node: number): number | undefined {
  return tiers.find((t) => t.nodes.includes(node))?.id;
}

// /sys/kernel/mm/mempolicy/weighted_interleave (6.9+): the weight of each memory node for tasks
// whose policy is MPOL_WEIGHTED_INTERLEAVE (Documentation/ABI/testing/
// sysfs-kernel-mm-mempolicy-weighted-interleave). nodeN holds 1-255; 6.16 added `auto`: "true"
// while the kernel derives the weights from the nodes' access bandwidth (HMAT, CDAT), "false"
// once anything wrote a weight.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {NODE_DIR} from './hotplug';

export const WEIGHTED_INTERLEAVE = '/sys/kernel/mm/mempolicy/weighted_interleave';

export interface InterleaveWeights {
  /** The kernel has weighted interleave (6.9+). */
  supported: boolean;
  /** 6.16+: the kernel sets the weights itself (undefined: no `auto` switch). */
  auto?: boolean;
  /** Weight by node, for the nodes the kernel lists. */
  weights: Map<number, number>;
}

export function readInterleaveWeights(sysfs: Sysfs): InterleaveWeights {
  if (!sysfs.exists(WEIGHTED_INTERLEAVE)) return {supported: false, weights: new Map()};
  const weights = new Map<number, number>();
  for (const n of sysfs.list(WEIGHTED_INTERLEAVE, /^node\d+$/)) {
    const v = Number((sysfs.readOptional(path.posix.join(WEIGHTED_INTERLEAVE, n)) ?? '').trim());
    if (Number.isInteger(v) && v > 0) weights.set(Number(n.slice(4)), v);
  }
  const auto = sysfs.readOptional(path.posix.join(WEIGHTED_INTERLEAVE, 'auto'))?.trim();
  return {supported: true, auto: auto === undefined ? undefined : auto === 'true' || auto === '1' || auto === 'Y', weights};
}

/** What the platform says of a node's memory seen from its nearest CPUs (HMAT/CDAT), MB/s and ns. */
export interface AccessCoordinates {
  readBandwidth?: number;
  writeBandwidth?: number;
  readLatency?: number;
  writeLatency?: number;
}

/**
 * nodeN/access0/initiators (Documentation/ABI/stable/sysfs-devices-node): absent until the
 * platform describes the node and, for hot-added memory, until some of it is online.
 */
export function readAccess(sysfs: Sysfs, node: number): AccessCoordinates | undefined {
  const dir = path.posix.join(NODE_DIR, `node${node}`, 'access0', 'initiators');
  if (!sysfs.exists(dir)) return undefined;
  const num = (attr: string) => {
    const v = Number((sysfs.readOptional(path.posix.join(dir, attr)) ?? '').trim());
    return Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const a = {readBandwidth: num('read_bandwidth'), writeBandwidth: num('write_bandwidth'), readLatency: num('read_latency'), writeLatency: num('write_latency')};
  return Object.values(a).some((v) => v !== undefined) ? a : undefined;
}

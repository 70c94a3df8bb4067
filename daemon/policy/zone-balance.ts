// The zone-balance gate. Memory onlined Movable serves only movable (user) pages, while its
// struct pages (unless they live on the device), page tables and slab come from the kernel's
// zones: too much Movable for the kernel zones beside it and the box runs out of kernel memory
// with Movable memory free. The kernel's memory-hotplug guide calls Movable:Kernel 3:1 or 4:1
// fine and 63:1 impossible; its auto-movable online policy stops at 301%. This gate computes
// the ratio the online would leave, in the whole system and on the target node, and refuses,
// warns or onlines the excess into Normal as policy says.

import type {NodeZones} from '../model/node';
import type {Policy} from './settings';
import type {GateResult} from './gates';
import {humanSize} from '../util/size';

/** Struct pages: 64 bytes per 4 KiB page. */
const MEMMAP_SHARE = 64n;

export interface ZoneBalanceInput {
  device: string;
  /** Every node's zones now (model/node readNodeZones). */
  nodes: NodeZones[];
  node: number;
  /** Blocks this online adds to the allocator, and their size. */
  blocks: number;
  blockSize: bigint;
  /** The zone asked: auto leaves the choice, and so the ratio, to the kernel. */
  zone: 'movable' | 'normal' | 'auto';
  /** Struct pages of the new memory on the device itself (memmap_on_memory) rather than in DRAM. */
  memmapOnDevice: boolean;
  /** /sys/kernel/mm/numa/demotion_enabled (undefined: no such switch). */
  demotion?: boolean;
  swapBytes: bigint;
  policy: Pick<Policy, 'zoneRatio' | 'zoneBalance' | 'cpuless'>;
}

export interface ZoneRatio {
  movable: bigint;
  kernel: bigint;
}

export interface ZoneBalance {
  total: {before: ZoneRatio; after: ZoneRatio};
  node: {before: ZoneRatio; after: ZoneRatio; cpus: boolean};
  /** Of the blocks onlined, how many go Movable (the rest Normal): all of them unless split. */
  movableBlocks: number;
}

/** "2.5:1", "0.14:1", "all Movable", "no Movable". */
export function ratioText(r: ZoneRatio): string {
  if (r.movable === 0n) return 'no Movable';
  if (r.kernel === 0n) return 'all Movable';
  const x = Number(r.movable) / Number(r.kernel);
  // Two decimals below 1:1, where limits like 0.1 live.
  return `${x.toFixed(x < 1 ? 2 : 1)}:1`;
}

/** Movable and kernel-zone bytes of all the nodes together. */
export function zoneTotals(nodes: Pick<NodeZones, 'movable' | 'kernel'>[]): ZoneRatio {
  return nodes.reduce((t, n) => ({movable: t.movable + n.movable, kernel: t.kernel + n.kernel}), {movable: 0n, kernel: 0n});
}

/** Movable:Kernel above limit:1 (0: no limit). */
export function overRatio(r: ZoneRatio, limit: number): boolean {
  // movable/kernel > limit, in integers: limit has at most two decimals.
  return limit > 0 && r.movable * 100n > BigInt(Math.round(limit * 100)) * r.kernel;
}

/** Movable and kernel bytes after `movable` bytes go Movable and `normal` bytes go Normal. */
function add(r: ZoneRatio, movable: bigint, normal: bigint, memmapOnDevice: boolean): ZoneRatio {
  const memmap = (movable + normal) / MEMMAP_SHARE;
  // Struct pages on the device take from what it adds; in DRAM they take from the kernel zones.
  const fromDevice = memmapOnDevice ? memmap : 0n;
  const mv = movable - (movable * fromDevice) / (movable + normal || 1n);
  const nm = normal - (normal * fromDevice) / (movable + normal || 1n);
  const kernel = r.kernel + nm - (memmapOnDevice ? 0n : memmap);
  return {movable: r.movable + mv, kernel: kernel > 0n ? kernel : 0n};
}

export function zoneBalance(i: ZoneBalanceInput): ZoneBalance {
  const total = zoneTotals(i.nodes);
  const own = i.nodes.find((n) => n.node === i.node) ?? {node: i.node, movable: 0n, kernel: 0n, cpus: false};
  const node = {movable: own.movable, kernel: own.kernel};
  const bytes = BigInt(i.blocks) * i.blockSize;
  let movableBlocks = i.zone === 'movable' ? i.blocks : 0;
  if (i.zone === 'movable' && i.policy.zoneBalance === 'split' && overRatio(add(total, bytes, 0n, i.memmapOnDevice), i.policy.zoneRatio)) {
    // The most blocks Movable that keep the total within the ratio; the rest go Normal.
    while (movableBlocks > 0) {
      const mv = BigInt(movableBlocks) * i.blockSize;
      if (!overRatio(add(total, mv, bytes - mv, i.memmapOnDevice), i.policy.zoneRatio)) break;
      movableBlocks--;
    }
  }
  const mv = BigInt(movableBlocks) * i.blockSize;
  const nm = i.zone === 'auto' ? 0n : bytes - mv;
  return {
    total: {before: total, after: i.zone === 'auto' ? total : add(total, mv, nm, i.memmapOnDevice)},
    node: {before: node, after: i.zone === 'auto' ? node : add(node, mv, nm, i.memmapOnDevice), cpus: own.cpus},
    movableBlocks,
  };
}

/** The gate: the ratio the online leaves against zone-ratio, then the CPU-less node check. */
export function zoneBalanceGate(i: ZoneBalanceInput, b: ZoneBalance = zoneBalance(i)): GateResult & {movableBlocks: number} {
  const p = i.policy;
  const setting = `zone-ratio=${p.zoneRatio} zone-balance=${p.zoneBalance} cpuless=${p.cpuless}`;
  const after = `Movable:Kernel after the online ${ratioText(b.total.after)} in total (${ratioText(b.total.before)} before), node ${i.node} ${ratioText(b.node.after)}`;
  const base = {gate: 'zone-balance' as const, setting, movableBlocks: b.movableBlocks};
  // No kernel zone at all is no machine that booted: the zone sizes could not be read.
  if (b.total.before.kernel === 0n) return {...base, verdict: 'warn', detail: 'not checked: /proc/zoneinfo could not be read or shows no kernel zone, so the zone sizes are unknown'};
  if (i.zone === 'auto') return {...base, verdict: 'pass', detail: `--zone auto: the kernel picks each block's zone (now ${ratioText(b.total.before)} in total)`};
  if (i.zone === 'movable' && b.movableBlocks < i.blocks) {
    const normal = i.blocks - b.movableBlocks;
    return {...base, verdict: 'split', detail: `${after}: ${b.movableBlocks} block(s) Movable and ${normal} Normal (${humanSize(BigInt(normal) * i.blockSize)}) keep the total within ${p.zoneRatio}:1; Normal blocks take kernel allocations and may not offline again`};
  }
  if (i.zone === 'movable' && overRatio(b.total.after, p.zoneRatio)) {
    const limit = `over zone-ratio ${p.zoneRatio}:1`;
    const detail = `${after}, ${limit}: the kernel zones (${humanSize(b.total.after.kernel)} left after struct pages) would carry ${humanSize(b.total.after.movable)} of Movable memory; kernel allocations can fail with Movable memory free`;
    const fix = `online it in Normal (--zone normal), or set zone-balance=split to online the excess into Normal, or raise zone-ratio (the kernel docs: 3:1 or 4:1 are fine, 63:1 impossible)`;
    if (p.zoneBalance === 'warn') return {...base, verdict: 'warn', detail};
    return {...base, verdict: 'refuse', detail, fix};
  }
  // A memory-only node that this online leaves all Movable: nothing there can serve the kernel,
  // and with demotion and swap off only user pages spilling over from the CPU nodes reach it.
  if (b.movableBlocks > 0 && !b.node.cpus && b.node.after.kernel === 0n && i.demotion !== true && i.swapBytes === 0n && p.cpuless !== 'allow') {
    const detail = `${after}: node ${i.node} has no CPUs and would be all Movable while demotion is ${i.demotion === false ? 'off' : 'not available'} and there is no swap; its memory serves only user pages that spill over from the CPU nodes`;
    const fix = 'turn demotion on ([daemon] tiering = on in daxram.conf), or add swap, or set cpuless=allow';
    if (p.cpuless === 'refuse') return {...base, verdict: 'refuse', detail, fix};
    return {...base, verdict: 'warn', detail};
  }
  return {...base, verdict: 'pass', detail: p.zoneRatio > 0 ? `${after}, within ${p.zoneRatio}:1` : `${after} (zone-ratio=0: no limit)`};
}

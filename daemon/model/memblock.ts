// memoryN: hot-pluggable memory blocks. A 6 TiB machine has ~49k of them, so this module reads
// only what a question needs: block ids come from the name (memoryN's N is its phys_index), the
// node of every block comes from one readdir per node (nodeM/memoryK links) instead of one
// readlink per block, and valid_zones of an offline block is read only if someone asks.

import * as fs from 'node:fs';
import type {Sysfs} from '../sysfs';
import {SysfsError} from '../errors';
import type {MemBlock} from './types';
import {MEMORY_DIR, NODE_DIR} from './hotplug';
import {readSmall} from './attr';

const STATES = new Set(['online', 'offline', 'going-offline']);
const MEMORY_RE = /^memory(\d+)$/;
const NODE_RE = /^node(\d+)$/;

/** phys_index is printed with %08lx: hex without 0x. */
export function parsePhysIndex(raw: string, where: string): number {
  const s = raw.trim();
  if (!/^[0-9a-fA-F]+$/.test(s)) throw new SysfsError(`${where}: expected hex phys_index, got "${raw}"`, {path: where});
  return parseInt(s, 16);
}

/** "Movable", "Normal Movable", "DMA32 Normal" → words; empty content (offline-only kernels) → []. */
export function parseValidZones(raw: string): string[] {
  const s = raw.trim();
  return s === '' ? [] : s.split(/\s+/);
}

function readAttr(hostPath: string, kernelPath: string, device: string): string | undefined {
  try {
    return readSmall(hostPath);
  } catch (e) {
    throw new SysfsError(`cannot read ${kernelPath}: ${(e as Error).message}`, {path: kernelPath, device, cause: e});
  }
}

/**
 * Node of every memory block, from /sys/devices/system/node/nodeM/memoryK links: one readdir
 * per node. Falls back to nothing (empty map) when there is no node directory (!CONFIG_NUMA).
 */
export function readBlockNodes(sysfs: Sysfs): Map<number, number> {
  const nodes = new Map<number, number>();
  for (const n of sysfs.list(NODE_DIR, NODE_RE)) {
    const node = Number(NODE_RE.exec(n)![1]);
    let names: string[];
    try {
      names = fs.readdirSync(sysfs.p(`${NODE_DIR}/${n}`));
    } catch (e) {
      throw new SysfsError(`cannot list ${NODE_DIR}/${n}: ${(e as Error).message}`, {path: `${NODE_DIR}/${n}`, cause: e});
    }
    for (const name of names) {
      if (name.charCodeAt(0) !== 109 /* m */) continue;
      const m = MEMORY_RE.exec(name);
      if (m) nodes.set(Number(m[1]), node);
    }
  }
  return nodes;
}

/** Node from the block's own nodeM link: the per-block fallback when no node map has it. */
function nodeFromBlockDir(sysfs: Sysfs, name: string): number {
  try {
    for (const e of fs.readdirSync(sysfs.p(`${MEMORY_DIR}/${name}`))) {
      const m = NODE_RE.exec(e);
      if (m) return Number(m[1]);
    }
  } catch {
    /* block vanished: caller decides */
  }
  return -1;
}

export interface ReadBlockOptions {
  /** Node of each block (readBlockNodes); blocks missing from it fall back to their nodeM link. */
  nodes?: Map<number, number>;
}

/**
 * Read one present block, or undefined when memoryN does not exist (a hole in the physical map,
 * or a block removed under us).
 */
export function readMemBlock(sysfs: Sysfs, id: number, blockSize: bigint, opts: ReadBlockOptions = {}): MemBlock | undefined {
  const name = `memory${id}`;
  const dir = `${MEMORY_DIR}/${name}`;
  const hostDir = sysfs.p(dir);
  const state = readAttr(`${hostDir}/state`, `${dir}/state`, name);
  if (state === undefined) return undefined;
  if (!STATES.has(state)) throw new SysfsError(`${dir}/state: unexpected memory block state "${state}"`, {path: `${dir}/state`, device: name});
  let node = opts.nodes?.get(id);
  if (node === undefined) node = nodeFromBlockDir(sysfs, name);
  const block: MemBlock = {name, id, start: BigInt(id) * blockSize, state, validZones: [], node};
  if (state === 'online') {
    block.validZones = readZones(hostDir, dir, name);
  } else {
    // An offline block's valid_zones is the list the kernel would accept, which it computes on
    // each read: defer it to whoever asks (the onlining engine), not every list.
    let cached: string[] | undefined;
    Object.defineProperty(block, 'validZones', {
      enumerable: true,
      configurable: true,
      get: () => (cached ??= readZones(hostDir, dir, name)),
      set: (v: string[]) => {
        cached = v;
      },
    });
  }
  return block;
}

function readZones(hostDir: string, dir: string, name: string): string[] {
  const raw = readAttr(`${hostDir}/valid_zones`, `${dir}/valid_zones`, name);
  return raw === undefined ? [] : parseValidZones(raw);
}

/** memoryN's directory: the object a state write is validated against. */
export function memblockDir(id: number): string {
  return `${MEMORY_DIR}/memory${id}`;
}

/**
 * Only the state of memoryN (undefined: the block is not present): what a transition step
 * re-reads before it writes, tens of thousands of times on a large device.
 */
export function readBlockState(sysfs: Sysfs, id: number): string | undefined {
  return readAttr(sysfs.p(`${MEMORY_DIR}/memory${id}/state`), `${MEMORY_DIR}/memory${id}/state`, `memory${id}`);
}

/** Ids of every present block (one readdir of the memory directory). */
export function listMemBlockIds(sysfs: Sysfs): number[] {
  const ids: number[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(sysfs.p(MEMORY_DIR));
  } catch {
    return ids;
  }
  for (const n of names) {
    const m = MEMORY_RE.exec(n);
    if (m) ids.push(Number(m[1]));
  }
  return ids.sort((a, b) => a - b);
}

/** Zone an online block is in: valid_zones of an online block names exactly its zone. */
export function zoneOf(block: MemBlock): string | undefined {
  return block.state === 'online' ? block.validZones[0] : undefined;
}

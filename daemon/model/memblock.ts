// memoryN: hot-pluggable memory blocks. A 6 TiB machine has ~49k of them, so this module reads
// only what a question needs: block ids come from the name (memoryN's N is its phys_index), the
// node of every block comes from one readdir per node (nodeM/memoryK links) instead of one
// readlink per block, and valid_zones of an offline block is read only if someone asks.

import * as fs from 'node:fs';
import type {Sysfs} from '../sysfs';
import {SysfsError} from '../errors';
import type {MemBlock, MemBlocks, MemBlockState} from './types';
import {MEMORY_DIR, NODE_DIR} from './hotplug';
import {readSmall} from './attr';
import {idRuns, PAGE} from '../util/ranges';
import {readZoneSpans} from './node';

const STATES = new Set(['online', 'offline', 'going-offline']);
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
 * Which node holds each present block, as runs of consecutive ids (a node's blocks are a few
 * runs): tens of thousands of blocks in a few hundred bytes, looked up by binary search, where a
 * Map held an entry per block for the collector to trace.
 */
export class BlockNodes {
  private constructor(
    private readonly first: Float64Array,
    private readonly end: Float64Array,
    private readonly node: Int32Array,
    /** Present blocks per node. */
    readonly counts: ReadonlyMap<number, number>,
  ) {}

  /** `ids` per node, in any order. */
  static of(perNode: Map<number, ArrayLike<number> & Iterable<number>>): BlockNodes {
    const runs: Array<[number, number, number]> = [];
    const counts = new Map<number, number>();
    for (const [node, list] of perNode) {
      counts.set(node, list.length);
      for (const [first, end] of idRuns(list)) runs.push([first, end, node]);
    }
    runs.sort((x, y) => x[0] - y[0]);
    return new BlockNodes(Float64Array.from(runs, (r) => r[0]), Float64Array.from(runs, (r) => r[1]), Int32Array.from(runs, (r) => r[2]), counts);
  }

  get(id: number): number | undefined {
    const i = this.index(id);
    return i < 0 ? undefined : this.node[i];
  }

  /** The run that holds `id`: its node, and the id after its last block. */
  runOf(id: number): {node: number; end: number} | undefined {
    const i = this.index(id);
    return i < 0 ? undefined : {node: this.node[i], end: this.end[i]};
  }

  private index(id: number): number {
    return runAt(this.first, this.end, id);
  }
}

/** Which of the runs [first[i], end[i]) (ascending, disjoint) holds `id`: its index, or -1. */
function runAt(first: ArrayLike<number>, end: ArrayLike<number>, id: number): number {
  let lo = 0;
  let hi = first.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (first[mid] <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && id < end[lo - 1] ? lo - 1 : -1;
}

/**
 * Node of every memory block, from /sys/devices/system/node/nodeM/memoryK links: one readdir
 * per node, names parsed without a regex (Sysfs.list's is one per name: 65 -> 31 ms for the
 * 6 TiB fixture's 49,152 names, docs/performance.md). Nothing (no block has a node) when there
 * is no node directory (!CONFIG_NUMA). `only`: that node's blocks alone.
 */
export function readBlockNodes(sysfs: Sysfs, only?: number): BlockNodes {
  const perNode = new Map<number, Float64Array>();
  for (const n of only === undefined ? sysfs.list(NODE_DIR, NODE_RE) : [`node${only}`]) {
    const node = Number(NODE_RE.exec(n)![1]);
    let names: string[];
    try {
      names = fs.readdirSync(sysfs.p(`${NODE_DIR}/${n}`));
    } catch (e) {
      // A node leaves sysfs when its last memory goes (a CPU-less node): it holds no blocks.
      if (only !== undefined && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SysfsError(`cannot list ${NODE_DIR}/${n}: ${(e as Error).message}`, {path: `${NODE_DIR}/${n}`, cause: e});
    }
    // Tens of thousands of names per node: a prefix test and Number() instead of a regex match
    // and its captures (a third of a 6 TiB list's scan went here).
    const ids = new Float64Array(names.length);
    let k = 0;
    // Indexed: this runs once per node, too few times for V8 to optimise away for-of's
    // iterator results (7 MB of them for the 6 TiB fixture's two nodes).
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const id = memoryIdOf(name);
      if (id >= 0) ids[k++] = id;
    }
    perNode.set(node, ids.subarray(0, k));
  }
  return BlockNodes.of(perNode);
}

/**
 * N of a `memoryN` name, -1 for any other name. By hand: tens of thousands of names per directory,
 * and a regex match or a substring each was as many more objects for the collector.
 */
function memoryIdOf(name: string): number {
  if (name.length < 7 || !name.startsWith('memory')) return -1;
  let id = 0;
  for (let j = 6; j < name.length; j++) {
    const c = name.charCodeAt(j);
    if (c < 48 || c > 57) return -1;
    id = id * 10 + (c - 48);
  }
  return Number.isSafeInteger(id) ? id : -1;
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
  nodes?: BlockNodes;
  /** Zone spans per node in block ids (blockScan): an online block inside exactly one is in that zone. */
  spans?: Map<number, IdSpan[]>;
}

/**
 * What a scan knows of a block without reading it: its state and, online, its zone when one
 * zone holds it whole. Shared by every block it is true of (one per zone, frozen): a device's
 * stretch of 24,576 such blocks is one pointer to it, not an object per block.
 */
class Known {
  constructor(
    readonly state: 'online' | 'offline',
    readonly zone?: readonly string[],
  ) {
    Object.freeze(this);
  }
}

const OFFLINE = new Known('offline');
/** Online, in a zone the scan cannot name (several touch the block): valid_zones is read when asked. */
const ONLINE = new Known('online');

// One per block someone asked for: the fields are plain, name/start and the lazily read
// valid_zones live on the prototype, not in per-block closures.
class Block implements MemBlock {
  private zonesRead?: string[];
  constructor(
    readonly id: number,
    readonly state: MemBlockState,
    readonly node: number,
    private readonly bs: bigint,
    private readonly sysfs: Sysfs,
    known?: readonly string[],
  ) {
    // A scan's shared, frozen list: read-only to everyone, as every block's valid_zones is.
    this.zonesRead = known as string[] | undefined;
  }

  get name(): string {
    return `memory${this.id}`;
  }

  get start(): bigint {
    return BigInt(this.id) * this.bs;
  }

  /**
   * valid_zones: for an online block, its zone. An offline block's list is what the kernel
   * would accept now, computed on each read: read when someone asks, not for every list.
   */
  get validZones(): string[] {
    if (this.zonesRead === undefined) {
      const dir = `${MEMORY_DIR}/memory${this.id}`;
      this.zonesRead = readZones(this.sysfs.p(dir), dir, `memory${this.id}`);
    }
    return this.zonesRead;
  }

  set validZones(v: string[]) {
    this.zonesRead = v;
  }

  toJSON(): Record<string, unknown> {
    return {name: this.name, id: this.id, start: this.start, state: this.state, validZones: this.validZones, node: this.node};
  }
}

/**
 * Read one present block, or undefined when memoryN does not exist (a hole in the physical map,
 * or a block removed under us).
 */
export function readMemBlock(sysfs: Sysfs, id: number, blockSize: bigint, opts: ReadBlockOptions = {}): MemBlock | undefined {
  const dir = `${MEMORY_DIR}/memory${id}`;
  const state = readAttr(sysfs.p(`${dir}/state`), `${dir}/state`, `memory${id}`);
  if (state === undefined) return undefined;
  if (!STATES.has(state)) throw new SysfsError(`${dir}/state: unexpected memory block state "${state}"`, {path: `${dir}/state`, device: `memory${id}`});
  let node = opts.nodes?.get(id);
  if (node === undefined) node = nodeFromBlockDir(sysfs, `memory${id}`);
  return new Block(id, state, node, blockSize, sysfs, state === 'online' ? spanOf(opts.spans?.get(node), id)?.known.zone : undefined);
}

/**
 * One device's present blocks, in id order, as one scan found them: stretches of blocks the scan
 * knows alike (a shared Known: a whole node, a full zone), and the blocks it had to read, kept.
 * Counts are taken here; a known block becomes a Block only when someone asks for it, and dies
 * young. A 3 TiB device in one zone is one stretch: the 6 TiB fixture's list and daxramd's start
 * had kept a Block per block and a Map entry for it, most of their heap.
 */
export class DeviceBlocks implements MemBlocks {
  static readonly NONE = new DeviceBlocks([], [], [], 0n);
  readonly length: number;
  readonly online: number;

  /** Stretch i: blocks [first[i], end[i]), all what[i] (a Known), or the one block read. */
  private constructor(
    private readonly first: number[],
    private readonly end: number[],
    private readonly what: Array<Known | MemBlock>,
    private readonly bs: bigint,
    private readonly sysfs?: Sysfs,
    private readonly nodes?: BlockNodes,
  ) {
    let length = 0;
    let online = 0;
    for (let i = 0; i < what.length; i++) {
      length += end[i] - first[i];
      if (what[i].state === 'online') online += end[i] - first[i];
    }
    this.length = length;
    this.online = online;
  }

  /** Blocks `ids` as the scan knows them, the others read; absent ones left out. */
  static scan(sysfs: Sysfs, s: BlockScan, ids: Iterable<number>): DeviceBlocks {
    return DeviceBlocks.scanRuns(sysfs, s, idRuns(ids));
  }

  /** The same for runs of ids, [first, end) (a device's ranges rounded to blocks), in any order. */
  static scanRuns(sysfs: Sysfs, s: BlockScan, runs: Array<[number, number]>): DeviceBlocks {
    const firsts: number[] = [];
    const ends: number[] = [];
    const whats: Array<Known | MemBlock> = [];
    const add = (first: number, end: number, what: Known | MemBlock) => {
      const last = whats.length - 1;
      if (last >= 0 && ends[last] === first && whats[last] === what && what instanceof Known) ends[last] = end;
      else {
        firsts.push(first);
        ends.push(end);
        whats.push(what);
      }
    };
    for (const [first, end] of [...runs].sort((x, y) => x[0] - y[0])) {
      let id = Math.max(first, ends.length ? ends[ends.length - 1] : first);
      while (id < end) {
        // A node's blocks are a few long runs, a zone's span one: a stretch at a time.
        const at = s.nodes.runOf(id);
        const k = at === undefined ? undefined : knownFrom(s, id, at.node);
        if (at !== undefined && k !== undefined) {
          const stop = Math.min(end, at.end, k.until);
          add(id, stop, k.known);
          id = stop;
          continue;
        }
        const b = readMemBlock(sysfs, id, s.bs, s);
        if (b !== undefined) add(id, id + 1, b);
        id++;
      }
    }
    return new DeviceBlocks(firsts, ends, whats, s.bs, sysfs, s.nodes);
  }

  /** Blocks already made (a test's, a fixture's). */
  static of(blocks: MemBlock[]): DeviceBlocks {
    const sorted = [...blocks].sort((a, b) => a.id - b.id);
    return new DeviceBlocks(
      sorted.map((b) => b.id),
      sorted.map((b) => b.id + 1),
      sorted,
      0n,
    );
  }

  get(id: number): MemBlock | undefined {
    const i = runAt(this.first, this.end, id);
    return i < 0 ? undefined : this.make(i, id);
  }

  *[Symbol.iterator](): Iterator<MemBlock> {
    for (let i = 0; i < this.what.length; i++) for (let id = this.first[i]; id < this.end[i]; id++) yield this.make(i, id);
  }

  allMovable(): boolean {
    for (let i = 0; i < this.what.length; i++) {
      const w = this.what[i];
      if (w.state !== 'online') continue;
      const zone = w instanceof Known ? w.zone : w.validZones;
      if (zone !== undefined) {
        if (zone[0] !== 'Movable') return false;
        continue;
      }
      for (let id = this.first[i]; id < this.end[i]; id++) if (this.make(i, id).validZones[0] !== 'Movable') return false;
    }
    return true;
  }

  toJSON(): MemBlock[] {
    return [...this];
  }

  private make(i: number, id: number): MemBlock {
    const w = this.what[i];
    return w instanceof Known ? new Block(id, w.state, this.nodes!.get(id)!, this.bs, this.sysfs!, w.zone) : w;
  }
}

/**
 * One device's blocks (`ids`), as a transition plans from them and checks them after: known
 * without a read where /proc/zoneinfo vouches for them (blockScan, on the device's target node
 * alone), else each block's state read; a block found on another node reads its own directory.
 * Adopting 6 TiB found in RAM read 49,152 state files twice (before and after), most of
 * daxramd's start; a 16 GiB online in a TCG guest read 125 twice.
 */
export function readDeviceBlocks(sysfs: Sysfs, ids: number[], blockSize: bigint, node: number): DeviceBlocks {
  return DeviceBlocks.scan(sysfs, blockScan(sysfs, blockSize, node), ids);
}

/**
 * A zone's span in block ids: blocks it touches [touchLo, touchHi), blocks wholly inside [lo, hi);
 * `full` when every page of the span is present, so every block inside it is online in the zone.
 */
interface IdSpan {
  /** An online block the span holds whole: in this zone. */
  known: Known;
  touchLo: number;
  touchHi: number;
  lo: number;
  hi: number;
  full: boolean;
}

/** What a scan knows about every node's blocks before reading any of them. */
export interface BlockScan {
  bs: bigint;
  nodes: BlockNodes;
  /** Per node, the zone spans of /proc/zoneinfo in block ids: no BigInt per block. */
  spans: Map<number, IdSpan[]>;
  /** Per node: every present block online (in one zone, or ONLINE when several), or every one offline. */
  whole: Map<number, Known>;
}

/**
 * One readdir per node (`only`: that node's alone) and /proc/zoneinfo. A node whose zones hold
 * exactly as many present pages as its present blocks have is entirely online; one with none is
 * entirely offline: then its blocks need no read at all (a 6 TiB machine in steady state is
 * 49,152 blocks and two nodes). Anything in between, or no NUMA directory, and each block is read.
 */
export function blockScan(sysfs: Sysfs, bs: bigint, only?: number): BlockScan {
  const nodes = readBlockNodes(sysfs, only);
  const zones = readZoneSpans(sysfs);
  // One frozen valid_zones list (and one Known) per zone, shared by every block in it.
  const lists = new Map<string, Known>();
  const online = (zone: string) => lists.get(zone) ?? lists.set(zone, new Known('online', Object.freeze([zone]))).get(zone)!;
  // A node that holds both boot DRAM and dax memory (pmem on the CPU's socket) is rarely whole:
  // the boot zones have holes. Its Movable zone usually has none, and an offline block's pages
  // are not present, so a zone whose span is all present pages vouches for the blocks inside it.
  const spans = new Map<number, IdSpan[]>();
  for (const [node, zs] of bs > 0n ? (zones ?? []) : []) {
    spans.set(
      node,
      zs.map((z) => ({
        known: online(z.zone),
        touchLo: Number(z.start / bs),
        touchHi: Number((z.end + bs - 1n) / bs),
        lo: Number((z.start + bs - 1n) / bs),
        hi: Number(z.end / bs),
        full: z.present > 0n && z.present * PAGE === z.end - z.start,
      })),
    );
  }
  const whole = new Map<number, Known>();
  if (zones && bs > 0n) {
    for (const [node, n] of nodes.counts) {
      const blocks = BigInt(n);
      const zs = zones.get(node) ?? [];
      const present = zs.reduce((a, z) => a + z.present, 0n);
      if (present === 0n) whole.set(node, OFFLINE);
      else if (present === (blocks * bs) / PAGE) {
        const populated = zs.filter((z) => z.present > 0n);
        whole.set(node, populated.length === 1 ? online(populated[0].zone) : ONLINE);
      }
    }
  }
  return {bs, nodes, spans, whole};
}

/** The one span that holds block `id` whole; undefined when none or several touch it. */
function spanOf(spans: IdSpan[] | undefined, id: number): IdSpan | undefined {
  let hit: IdSpan | undefined;
  for (const z of spans ?? []) {
    if (id < z.touchLo || id >= z.touchHi) continue;
    if (hit !== undefined || id < z.lo || id >= z.hi) return undefined;
    hit = z;
  }
  return hit;
}

/**
 * What the scan knows of block `id` on `node` without reading it, and up to which id it holds
 * for the node's blocks from `id` on; undefined: read it.
 */
function knownFrom(s: BlockScan, id: number, node: number): {known: Known; until: number} | undefined {
  const w = s.whole.get(node);
  if (w === undefined) {
    // Present pages say the block is online, not that the block exists: the node's link does.
    for (const z of s.spans.get(node) ?? []) if (z.full && z.lo <= id && id < z.hi) return {known: z.known, until: z.hi};
    return undefined;
  }
  if (w !== ONLINE) return {known: w, until: Infinity};
  // Several zones on a whole node: the one span holding this block alone names its zone.
  return {known: spanOf(s.spans.get(node), id)?.known ?? ONLINE, until: id + 1};
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
    const id = memoryIdOf(n);
    if (id >= 0) ids.push(id);
  }
  return ids.sort((a, b) => a - b);
}

/** Zone an online block is in: valid_zones of an online block names exactly its zone. */
export function zoneOf(block: MemBlock): string | undefined {
  return block.state === 'online' ? block.validZones[0] : undefined;
}

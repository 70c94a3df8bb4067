// nodeN: a NUMA node. Its meminfo is how hot-added capacity shows up (MemTotal grows by the
// blocks onlined) and /proc/meminfo's HardwareCorrupted is how isolated poison does.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {NODE_DIR} from './hotplug';
import {parseIdRanges} from '../util/ranges';

/** "MemTotal" etc. from /proc/meminfo, or from nodeN/meminfo when `node` is given, in bytes. */
export function readMeminfo(sysfs: Sysfs, node?: number): Map<string, bigint> {
  const file = node === undefined ? '/proc/meminfo' : path.posix.join(NODE_DIR, `node${node}`, 'meminfo');
  const out = new Map<string, bigint>();
  const text = sysfs.readOptional(file) ?? '';
  for (const line of text.split('\n')) {
    // "Node 1 MemTotal:  1048576 kB" or "MemTotal:  1048576 kB"
    const m = /^(?:Node\s+\d+\s+)?([A-Za-z_()0-9]+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out.set(m[1], BigInt(m[2]) * (line.trimEnd().endsWith('kB') ? 1024n : 1n));
  }
  return out;
}

/** Nodes the kernel knows (nodeN directories), ascending. */
export function listNodes(sysfs: Sysfs): number[] {
  return sysfs.list(NODE_DIR, /^node\d+$/).map((n) => Number(n.slice(4)));
}

/** A populated zone of a node, as /proc/zoneinfo spans it: [start, end) in bytes. */
export interface ZoneSpan {
  zone: string; // DMA32, Normal, Movable …
  start: bigint;
  end: bigint;
  /** Pages present (onlined) in the zone. */
  present: bigint;
}

/**
 * Zone spans per node from /proc/zoneinfo (undefined when it cannot be read). Every online
 * page lies in the span of its zone, so an online memory block inside exactly one span is in
 * that zone: the scan then needs no valid_zones read for it. Spans can overlap (zones grow as
 * blocks are onlined), and a block in more than one span is read as before.
 */
export function readZoneSpans(sysfs: Sysfs): Map<number, ZoneSpan[]> | undefined {
  const text = sysfs.readOptional('/proc/zoneinfo');
  if (text === undefined) return undefined;
  const out = new Map<number, ZoneSpan[]>();
  let node = -1;
  let zone = '';
  let spanned = 0n;
  let present = 0n;
  for (const line of text.split('\n')) {
    const head = /^Node (\d+), zone\s+(\S+)/.exec(line);
    if (head) {
      node = Number(head[1]);
      zone = head[2];
      spanned = 0n;
      present = 0n;
      if (!out.has(node)) out.set(node, []);
      continue;
    }
    const sp = /^\s+(spanned|present)\s+(\d+)/.exec(line);
    if (sp) {
      if (sp[1] === 'spanned') spanned = BigInt(sp[2]);
      else present = BigInt(sp[2]);
      continue;
    }
    const st = /^\s+start_pfn:\s+(\d+)/.exec(line);
    if (st && node >= 0 && spanned > 0n) {
      const start = BigInt(st[1]) * 4096n;
      out.get(node)!.push({zone, start, end: start + spanned * 4096n, present});
    }
  }
  return out;
}

/** Nodes with CPUs (has_cpu): a node missing here is memory only, like most CXL and pmem nodes. */
export function readCpuNodes(sysfs: Sysfs): number[] {
  return parseIdRanges(sysfs.readOptional(path.posix.join(NODE_DIR, 'has_cpu')) ?? '');
}

/** What one node's zones hold, in bytes present: the Movable zone, and the zones the kernel can allocate from. */
export interface NodeZones {
  node: number;
  movable: bigint;
  /** DMA, DMA32 and Normal: everything but Movable and Device. */
  kernel: bigint;
  cpus: boolean;
}

/** Every node with memory or CPUs, from /proc/zoneinfo and has_cpu (empty when zoneinfo cannot be read). */
export function readNodeZones(sysfs: Sysfs): NodeZones[] {
  const spans = readZoneSpans(sysfs);
  if (!spans) return [];
  const cpus = new Set(readCpuNodes(sysfs));
  const out: NodeZones[] = [];
  for (const node of [...new Set([...spans.keys(), ...cpus])].sort((a, b) => a - b)) {
    const z: NodeZones = {node, movable: 0n, kernel: 0n, cpus: cpus.has(node)};
    for (const s of spans.get(node) ?? []) {
      if (s.zone === 'Movable') z.movable += s.present * 4096n;
      else if (s.zone !== 'Device') z.kernel += s.present * 4096n;
    }
    out.push(z);
  }
  return out;
}

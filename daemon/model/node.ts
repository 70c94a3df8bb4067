// nodeN: a NUMA node. Its meminfo is how hot-added capacity shows up (MemTotal grows by the
// blocks onlined) and /proc/meminfo's HardwareCorrupted is how isolated poison does.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {NODE_DIR} from './hotplug';

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

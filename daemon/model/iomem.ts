// /proc/iomem: the physical address map as the kernel claimed it. It names what a range is
// before any driver says so ("Soft Reserved", "Persistent Memory (legacy)", "CXL Window 0",
// "System RAM (kmem)"). Only root sees the addresses; others see zeros and get no entries.

import type {Sysfs} from '../sysfs';

export interface IomemEntry {
  start: bigint;
  /** Inclusive, as printed. */
  end: bigint;
  name: string;
  /** Nesting depth (two spaces per level). */
  depth: number;
}

export function readIomem(sysfs: Sysfs): IomemEntry[] {
  const text = sysfs.readOptional('/proc/iomem') ?? '';
  const out: IomemEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^( *)([0-9a-f]+)-([0-9a-f]+) : (.*)$/.exec(line);
    if (!m) continue;
    const start = BigInt('0x' + m[2]);
    const end = BigInt('0x' + m[3]);
    if (start === 0n && end === 0n) continue; // unprivileged view
    out.push({start, end, name: m[4], depth: m[1].length / 2});
  }
  return out;
}

/** The outermost entry that holds [start, start+size): what the platform said the range is. */
export function iomemOwner(entries: IomemEntry[], start: bigint, size: bigint): IomemEntry | undefined {
  return entries.find((e) => e.depth === 0 && e.start <= start && start + size - 1n <= e.end);
}

// Physical range arithmetic: half-open [start, start+size), bigint bytes. Poison, kmem
// alignment and scrub results are all ranges; one set of operations for all of them.

/** A physical address range [start, start+size). Values are bytes. */
export interface Range {
  start: bigint;
  size: bigint;
}

export const end = (r: Range): bigint => r.start + r.size;

/** Sorted, with overlapping and touching ranges merged; empty ranges dropped. */
export function normalize(ranges: Range[]): Range[] {
  const sorted = ranges.filter((r) => r.size > 0n).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= end(last)) {
      const e = end(r) > end(last) ? end(r) : end(last);
      last.size = e - last.start;
    } else {
      out.push({start: r.start, size: r.size});
    }
  }
  return out;
}

export function intersect(r: Range, within: Range): Range | undefined {
  const s = r.start > within.start ? r.start : within.start;
  const e = end(r) < end(within) ? end(r) : end(within);
  return e > s ? {start: s, size: e - s} : undefined;
}

/** The parts of `ranges` inside `within`. */
export function clip(ranges: Range[], within: Range): Range[] {
  return normalize(ranges.map((r) => intersect(r, within)).filter((r): r is Range => r !== undefined));
}

/** The parts of `ranges` outside `within`. */
export function outside(ranges: Range[], within: Range): Range[] {
  const out: Range[] = [];
  for (const r of ranges) {
    if (r.start < within.start) out.push({start: r.start, size: (end(r) < within.start ? end(r) : within.start) - r.start});
    if (end(r) > end(within)) {
      const s = r.start > end(within) ? r.start : end(within);
      out.push({start: s, size: end(r) - s});
    }
  }
  return normalize(out);
}

/** `ranges` minus `minus`. */
export function subtract(ranges: Range[], minus: Range[]): Range[] {
  let cur = normalize(ranges);
  for (const m of normalize(minus)) {
    const next: Range[] = [];
    for (const r of cur) {
      if (end(m) <= r.start || m.start >= end(r)) {
        next.push(r);
        continue;
      }
      if (m.start > r.start) next.push({start: r.start, size: m.start - r.start});
      if (end(m) < end(r)) next.push({start: end(m), size: end(r) - end(m)});
    }
    cur = next;
  }
  return cur;
}

export const totalBytes = (ranges: Range[]): bigint => ranges.reduce((s, r) => s + r.size, 0n);

/** Runs of consecutive ids, ascending, as [first, end) pairs; an id given twice counts once. */
export function idRuns(ids: Iterable<number>): Array<[number, number]> {
  const sorted = (ids instanceof Float64Array ? ids.slice() : Float64Array.from(ids)).sort();
  const out: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] <= sorted[j] + 1) j++;
    out.push([sorted[i], sorted[j] + 1]);
    i = j + 1;
  }
  return out;
}

/** Ids in the kernel's list format ("0-15,32-63", as nodelist, has_memory and cpulist print): the journal keeps block ids so too. */
export function idRanges(ids: number[]): string {
  return idRuns(ids)
    .map(([first, end]) => (end - first === 1 ? `${first}` : `${first}-${end - 1}`))
    .join(',');
}

/**
 * The byte ranges of blocks `ids` of size `bs`, consecutive ids merged: normalize() of one range
 * per block, without a range and two BigInts per block (24,576 of them on a 3 TiB device).
 */
export function blockRanges(ids: Iterable<number>, bs: bigint): Range[] {
  return idRuns(ids).map(([first, end]) => ({start: BigInt(first) * bs, size: BigInt(end - first) * bs}));
}

export function parseIdRanges(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return out;
}

export const alignDown = (v: bigint, a: bigint): bigint => (v / a) * a;
export const alignUp = (v: bigint, a: bigint): bigint => ((v + a - 1n) / a) * a;

export const hex = (v: bigint): string => '0x' + v.toString(16);
export const fmtRange = (r: Range): string => `${hex(r.start)}-${hex(end(r) - 1n)} (${r.size} B)`;

export const PAGE = 4096n;

/** Every 4 KiB page any of the ranges touches, ascending, without duplicates. */
export function pagesOf(ranges: Range[]): bigint[] {
  const out: bigint[] = [];
  for (const r of normalize(ranges)) {
    for (let p = (r.start / PAGE) * PAGE; p < r.start + r.size; p += PAGE) if (out[out.length - 1] !== p) out.push(p);
  }
  return out;
}

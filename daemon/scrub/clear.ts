// Clear-error planning and execution.
//
// CLEAR_ERROR takes ranges aligned to the firmware's clear_err_unit and inside the ARS_CAP
// range. We align every poisoned range outward to max(clear_err_unit, 512): the region's
// badblocks list is kept in 512-byte sectors and the kernel only drops whole sectors from it
// when a clear succeeds, so a sub-sector clear would leave the region reporting poison that is
// gone. Widening to the sector costs nothing here: the range is about to become System RAM and
// its old contents are not kept (clearing may zero the bytes it covers). If the widened range
// would leave the device's range, we fall back to clear_err_unit; poison that cannot be covered
// by an aligned range inside the device stays "unclearable" and is reported, never guessed at.
//
// The firmware may clear less than asked (`cleared`): we continue from where it stopped while it
// makes progress; a range it will not finish is a failure, not a success.

import type {Range} from '../model/types';
import type {NdBusHandle} from '../ndctl';
import {alignDown, alignUp, end, normalize, clip} from '../util/ranges';

export const SECTOR = 512n;
const SYSTEMIC = new Set(['EPERM', 'EACCES', 'ENOTTY', 'ENXIO', 'EOPNOTSUPP']);

export interface ClearPlan {
  /** CLEAR_ERROR ranges, aligned, merged, inside `within`. */
  clears: Range[];
  /** Poison inside `within` that no aligned range inside `within` can cover. */
  unclearable: Range[];
  /** The alignment used (bytes). */
  unit: bigint;
}

/** Plan the CLEAR_ERROR ranges for `poison` inside `within` (the device's range ∩ ARS_CAP range). */
export function planClears(poison: Range[], within: Range, clearErrUnit: bigint): ClearPlan {
  if (clearErrUnit <= 0n) clearErrUnit = 1n;
  const wide = clearErrUnit > SECTOR ? clearErrUnit : SECTOR;
  const clears: Range[] = [];
  const unclearable: Range[] = [];
  for (const p of clip(poison, within)) {
    let done = false;
    for (const unit of wide === clearErrUnit ? [clearErrUnit] : [wide, clearErrUnit]) {
      const s = alignDown(p.start, unit);
      const e = alignUp(end(p), unit);
      if (s >= within.start && e <= end(within)) {
        clears.push({start: s, size: e - s});
        done = true;
        break;
      }
      // Partly coverable at the edges: clamp to the device, keep clearErrUnit alignment.
      const cs = s < within.start ? alignUp(within.start, clearErrUnit) : s;
      const ce = e > end(within) ? alignDown(end(within), clearErrUnit) : e;
      if (unit === clearErrUnit && ce > cs) {
        clears.push({start: cs, size: ce - cs});
        if (p.start < cs) unclearable.push({start: p.start, size: cs - p.start});
        if (end(p) > ce) unclearable.push({start: ce, size: end(p) - ce});
        done = true;
      }
    }
    if (!done) unclearable.push(p);
  }
  return {clears: normalize(clears), unclearable: normalize(unclearable), unit: wide};
}

export interface ClearOutcome {
  range: Range;
  /** Bytes the firmware reported cleared, summed over calls. */
  cleared: bigint;
  calls: number;
  ok: boolean;
  /** Firmware status of the last call, when nonzero, or the errno name. */
  error?: string;
}

/**
 * Issue CLEAR_ERROR for each planned range. Never throws for one range's failure: the outcome
 * says what happened, so the caller can report every range and verify.
 */
export async function executeClears(
  bus: NdBusHandle,
  clears: Range[],
  unit: bigint,
  onRange?: (r: Range) => void,
): Promise<ClearOutcome[]> {
  const out: ClearOutcome[] = [];
  for (const range of clears) {
    onRange?.(range);
    const o: ClearOutcome = {range, cleared: 0n, calls: 0, ok: false};
    let at = range.start;
    while (at < end(range) && o.calls < 64) {
      o.calls++;
      try {
        const r = await bus.clearError(at, end(range) - at);
        if (r.status !== 0) {
          o.error = `firmware status ${r.status}${r.extendedStatus ? ` (extended ${r.extendedStatus})` : ''}`;
          break;
        }
        let c = r.cleared > end(range) - at ? end(range) - at : r.cleared;
        // Continue only from an aligned point: the next request must be aligned too.
        c = alignDown(c, unit > 0n ? unit : 1n) || (c === end(range) - at ? c : 0n);
        o.cleared += c;
        if (c === 0n) {
          o.error = `firmware cleared ${r.cleared} of ${end(range) - at} bytes`;
          break;
        }
        at += c;
      } catch (e) {
        const code = (e as {code?: string}).code;
        // These say the same for every range: stop and report the cause once.
        if (code && SYSTEMIC.has(code)) throw e;
        o.error = code ?? (e as Error).message;
        break;
      }
    }
    o.ok = at >= end(range) && o.error === undefined;
    if (!o.ok && o.error === undefined) o.error = `firmware cleared ${o.cleared} of ${range.size} bytes`;
    out.push(o);
  }
  return out;
}

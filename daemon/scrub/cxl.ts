// CXL poison, the counterpart of address range scrub for memory expanders.
//
// Reading: the kernel reads a memdev's Get Poison List when 1 is written to its
// trigger_poison_list, and reports each record as a cxl_poison trace event carrying the device
// physical address and, when the DPA is mapped by a region, the host physical address it
// decodes to (the kernel does the interleave arithmetic). daxram reads those events in a
// tracefs instance of its own, so it neither depends on nor disturbs anyone else's tracing,
// and gets the HPA translation from the one component that knows the decoders' programming.
// (The Get Poison List mailbox command through /dev/cxl/memN would give DPAs only, to be
// translated by hand; ndctl's `cxl list --media-errors` reads the same events.)
//
// Clearing: the kernel exposes Clear Poison to user space through debugfs,
// /sys/kernel/debug/cxl/memN/clear_poison (6.4+), one 64-byte DPA unit per write. A clear is
// verified by reading the list again; a refused or partial clear is reported, never assumed.

import * as fs from 'node:fs';
import type {Sysfs} from '../sysfs';
import {errnoName, KernelError} from '../errors';
import {closeInstance, openInstance, traceFields} from '../tracefs';
import {normalize, type Range} from '../util/ranges';
import {CXL_DEVICES} from '../model/cxl/scan';
import type {CxlRegion} from '../model/cxl/types';

export const POISON_UNIT = 64n;
const DEBUGFS = '/sys/kernel/debug';
const UNMAPPED = (1n << 64n) - 1n;

export interface CxlPoisonRecord {
  memdev: string;
  dpa: bigint;
  length: bigint;
  /** Host physical address, when the DPA is mapped by a region. */
  hpa?: bigint;
  region?: string;
  source: string;
}

/** One cxl_poison event line, as the trace file prints it. */
export function parsePoisonEvent(line: string): (CxlPoisonRecord & {type: string}) | undefined {
  const f = traceFields(line, 'cxl_poison');
  if (!f?.memdev || !f.dpa || !f.dpa_length) return undefined;
  const r: CxlPoisonRecord & {type: string} = {memdev: f.memdev, dpa: BigInt(f.dpa), length: BigInt(f.dpa_length), source: f.source ?? 'Unknown', type: f.trace_type ?? ''};
  const hpa = f.hpa ? BigInt(f.hpa) : UNMAPPED;
  if (hpa !== UNMAPPED && f.region) {
    r.hpa = hpa;
    r.region = f.region;
  }
  return r;
}

function debugfsMounted(sysfs: Sysfs): boolean {
  return sysfs.exists(`${DEBUGFS}/cxl`);
}

export interface PoisonListOptions {
  /** Mounts tracefs/debugfs when they are not (the CLI does; daxramd relies on systemd's mount units). */
  mount?: (fstype: 'tracefs' | 'debugfs', where: string) => void;
}

/**
 * Every memdev's poison list, read now. Throws KernelError naming the memdev when the list
 * cannot be read (no tracefs, no trigger_poison_list, the device refused).
 */
export function readCxlPoison(sysfs: Sysfs, memdevs: string[], o: PoisonListOptions = {}): CxlPoisonRecord[] {
  const inst = openInstance(sysfs, `daxram.${process.pid}`, ['cxl/cxl_poison'], memdevs.join(','), o.mount && ((where) => o.mount!('tracefs', where)));
  const out: CxlPoisonRecord[] = [];
  try {
    const ev = `${inst}/events/cxl/cxl_poison`;
    for (const m of memdevs) {
      const dir = `${CXL_DEVICES}/${m}`;
      if (!sysfs.exists(`${dir}/trigger_poison_list`)) {
        throw new KernelError(`${m} does not offer its poison list (no trigger_poison_list: the device lacks Get Poison List, or the kernel is older than 6.4)`, {device: m, path: `${dir}/trigger_poison_list`});
      }
      fs.writeFileSync(sysfs.p(`${inst}/trace`), ''); // empty the instance's buffer
      try {
        sysfs.writeAttr(dir, m, 'trigger_poison_list', '1');
      } catch (e) {
        throw new KernelError(`reading ${m}'s poison list failed${errnoName(e) ? ` (${errnoName(e)})` : ''}`, {device: m, path: `${dir}/trigger_poison_list`, code: errnoName(e), fix: 'see dmesg for the mailbox error', cause: e});
      }
      const seen = new Set<string>();
      for (const line of (sysfs.readOptional(`${inst}/trace`) ?? '').split('\n')) {
        const r = parsePoisonEvent(line);
        if (!r || r.type !== 'List' || r.memdev !== m) continue;
        const k = `${r.dpa}:${r.length}`;
        if (seen.has(k)) continue; // a list read in several mailbox chunks can repeat a record
        seen.add(k);
        const {type: _t, ...rec} = r;
        void _t;
        out.push(rec);
      }
    }
    sysfs.writeAttr(ev, 'cxl_poison', 'enable', '0');
  } finally {
    closeInstance(sysfs, inst);
  }
  return out;
}

/** The poisoned host physical ranges of `records` that lie in `region`. */
export function poisonInRegion(records: CxlPoisonRecord[], region: Pick<CxlRegion, 'name' | 'resource' | 'size'>): Range[] {
  return normalize(
    records
      .filter((r) => r.hpa !== undefined && r.region === region.name && r.hpa >= region.resource && r.hpa + r.length <= region.resource + region.size)
      .map((r) => ({start: r.hpa!, size: r.length})),
  );
}

export interface ClearOutcome {
  record: CxlPoisonRecord;
  ok: boolean;
  error?: string;
}

/** Clear Poison, 64 bytes of DPA per write, through debugfs. Never throws for one record: outcomes say. */
export function clearCxlPoison(sysfs: Sysfs, records: CxlPoisonRecord[], o: PoisonListOptions = {}): ClearOutcome[] {
  if (!debugfsMounted(sysfs) && o.mount) o.mount('debugfs', DEBUGFS);
  return records.map((record) => {
    const dir = `${DEBUGFS}/cxl/${record.memdev}`;
    if (!sysfs.exists(`${dir}/clear_poison`)) {
      return {record, ok: false, error: `${dir}/clear_poison is absent: debugfs not mounted, or the kernel (before 6.4) or device offers no Clear Poison`};
    }
    try {
      for (let off = 0n; off < record.length; off += POISON_UNIT) {
        const dpa = record.dpa + off;
        sysfs.writeAttr(dir, record.memdev, 'clear_poison', `0x${dpa.toString(16)}`);
      }
      return {record, ok: true};
    } catch (e) {
      return {record, ok: false, error: `clear_poison at DPA 0x${record.dpa.toString(16)} failed${errnoName(e) ? ` (${errnoName(e)})` : `: ${(e as Error).message}`}`};
    }
  });
}

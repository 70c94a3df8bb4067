// Where the gates get their facts. Each source is a small function so tests can hand in a
// fixture and the daemon can hand in the scrub pipeline (daemon/scrub/pipeline.ts) and the
// machine-check reader (daemon/mce.ts). The fallbacks here read what the kernel already knows.

import type {Sysfs} from '../sysfs';
import type {Range} from '../model/types';
import type {DaxState} from '../engine/device';

export interface PoisonReport {
  /** Whether an address range scrub could run for this device (false: only the kernel's badblocks). */
  scrubSupported: boolean;
  found: Range[];
  cleared: Range[];
  /** Poison still in the device's ranges after clearing: what the gate decides on. */
  remaining: Range[];
  source: string;
}

export type PoisonSource = ((dev: DaxState) => Promise<PoisonReport>) & {
  /** For a dry run: the ioctls the real source would issue for `dev`. */
  describe?: (dev: DaxState) => string[];
};

export interface MceReport {
  /** MCG_CAP.SER_P: true present, false absent, undefined unknown (cannot be read here). */
  serP: boolean | undefined;
  source: string;
}

export type MceSource = () => Promise<MceReport>;

/** Residual poison as the kernel's region badblocks records it (no scrub run here). */
export function badblocksPoison(sysfs: Sysfs): PoisonSource {
  return async (dev) => {
    const remaining = dev.regionPath ? regionBadblocks(sysfs, dev.regionPath, dev.region!, dev.ranges) : [];
    return {scrubSupported: false, found: remaining, cleared: [], remaining, source: dev.region ? `${dev.region}/badblocks` : 'none (not an NVDIMM region)'};
  };
}

/** regionN/badblocks is "<sector> <count>" in 512-byte units relative to regionN/resource. */
export function regionBadblocks(sysfs: Sysfs, regionPath: string, region: string, within: Range[]): Range[] {
  const text = sysfs.readOptional(`${regionPath}/badblocks`, region) ?? '';
  const base = sysfs.readBig(`${regionPath}/resource`, region);
  const out: Range[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)/.exec(line);
    if (!m) continue;
    const r = {start: base + BigInt(m[1]) * 512n, size: BigInt(m[2]) * 512n};
    for (const w of within) {
      const s = r.start > w.start ? r.start : w.start;
      const e = r.start + r.size < w.start + w.size ? r.start + r.size : w.start + w.size;
      if (e > s) out.push({start: s, size: e - s});
    }
  }
  return out;
}

export const unknownMce: MceSource = async () => ({serP: undefined, source: 'no machine-check reader available'});

export interface DimmSecurity {
  dimm: string;
  /** nmemN/security: disabled | unlocked | locked | frozen | overwrite | unsupported (absent). */
  state: string;
}

/** Security state of the DIMMs behind a device's region (regionN/mappingK = "nmemX,offset,length,pos"). */
export function dimmSecurity(sysfs: Sysfs, dev: DaxState): DimmSecurity[] {
  if (!dev.regionPath || !dev.busPath) return [];
  const out: DimmSecurity[] = [];
  for (const m of sysfs.list(dev.regionPath, /^mapping[0-9]+$/)) {
    const dimm = (sysfs.readOptional(`${dev.regionPath}/${m}`, dev.region) ?? '').split(',')[0];
    if (!/^nmem[0-9]+$/.test(dimm)) continue;
    out.push({dimm, state: sysfs.readOptional(`${dev.busPath}/${dimm}/security`, dimm) ?? 'unsupported'});
  }
  return out;
}

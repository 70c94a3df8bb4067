// Where the gates get their facts. Each source is a small function so tests can hand in a
// fixture and the CLI and daxramd can hand in the scrub pipeline and the machine-check reader
// (daemon/live). The fallbacks here read what the kernel already knows, through the model.

import type {Sysfs} from '../sysfs';
import {clip, normalize, type Range} from '../util/ranges';
import type {DaxDevice} from '../model/types';
import {readBadblockRanges, readMappings, readRegionResource} from '../model/region';
import {readProvider} from '../model/bus';
import {readSecurity} from '../model/dimm';
import {onNdBus} from '../model/dax';

export interface PoisonReport {
  /** Whether an address range scrub could run for this device (false: only the kernel's badblocks). */
  scrubSupported: boolean;
  found: Range[];
  cleared: Range[];
  /** Poison still in the device's ranges after clearing: what the gate decides on. */
  remaining: Range[];
  source: string;
}

/** clear: false reads only (memory already in use: clearing would overwrite live data). */
export type PoisonSource = ((dev: DaxDevice, o?: {clear?: boolean}) => Promise<PoisonReport>) & {
  /** For a dry run: the ioctls the real source would issue for `dev`. */
  describe?: (dev: DaxDevice) => string[];
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
    const remaining = regionBadblocks(sysfs, dev);
    return {scrubSupported: false, found: remaining, cleared: [], remaining, source: dev.origin.region && onNdBus(dev.origin) ? `${dev.origin.region}/badblocks` : 'none (not an NVDIMM region)'};
  };
}

/** The device's NVDIMM region's badblocks, clipped to the device's ranges. */
export function regionBadblocks(sysfs: Sysfs, dev: DaxDevice): Range[] {
  const o = dev.origin;
  if (!onNdBus(o) || !o.regionDir || !o.region) return [];
  const bb = readBadblockRanges(sysfs, o.regionDir, o.region, readRegionResource(sysfs, o.regionDir, o.region));
  return normalize(dev.ranges.flatMap((r) => clip(bb, r)));
}

/** The NVDIMM bus provider above a device (ACPI.NFIT, nfit_test.0, e820), when there is one. */
export function providerOf(sysfs: Sysfs, dev: DaxDevice): string | undefined {
  const o = dev.origin;
  if (!o.busDir || !o.bus) return undefined;
  try {
    return readProvider(sysfs, o.busDir, o.bus);
  } catch {
    return undefined; // a bus without a provider attribute names no emulator
  }
}

export const unknownMce: MceSource = async () => ({serP: undefined, source: 'no machine-check reader available'});

export interface DimmSecurity {
  dimm: string;
  /** nmemN/security: disabled | unlocked | locked | frozen | overwrite | unsupported (absent). */
  state: string;
}

/** Security state of the DIMMs behind a device's region (its mappingN name them). */
export function dimmSecurity(sysfs: Sysfs, dev: DaxDevice): DimmSecurity[] {
  const o = dev.origin;
  if (!o.regionDir || !o.busDir || !onNdBus(o)) return [];
  return readMappings(sysfs, o.regionDir, o.region ?? o.regionDir).map(({dimm}) => ({dimm, state: readSecurity(sysfs, `${o.busDir}/${dimm}`, dimm)}));
}

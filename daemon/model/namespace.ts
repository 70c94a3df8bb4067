// namespaceX.Y: a slice of a region. Its personality (raw, sector, fsdax, devdax) is decided by
// which seed device (bttX.Y, pfnX.Y, daxX.Y on the nd bus) claims it; that claim also carries
// the map location and alignment ndctl reports for the namespace.

import type {Sysfs} from '../sysfs';
import {SysfsError} from '../errors';
import type {Namespace, Region} from './types';
import {needBig, optBig} from './attr';

/** The kernel's namespace `mode` words, mapped to ndctl's names. */
const MODES: Record<string, string> = {raw: 'raw', safe: 'sector', memory: 'fsdax', dax: 'devdax', fsdax: 'fsdax', devdax: 'devdax'};

export function parseNamespaceMode(raw: string, path: string, device?: string): string {
  const m = MODES[raw.trim()];
  if (m === undefined) throw new SysfsError(`${path}: unknown namespace mode "${raw}"`, {path, device});
  return m;
}

/** A pfn/dax seed's `mode`: "pmem" keeps the struct-page map on the device, "ram" in DRAM. */
export function parseMapLocation(raw: string): string | undefined {
  switch (raw.trim()) {
    case 'pmem':
      return 'dev';
    case 'ram':
      return 'mem';
    default:
      return undefined;
  }
}

/**
 * Read namespaceX.Y inside region `dir`. Returns undefined for an unconfigured namespace seed
 * (size 0): it is a placeholder for creating the next namespace, not capacity.
 */
export function readNamespace(sysfs: Sysfs, name: string, regionDir: string, region: Region): Namespace | undefined {
  const dir = `${regionDir}/${name}`;
  const size = needBig(sysfs, `${dir}/size`, name);
  if (size === 0n) return undefined;
  const modeRaw = sysfs.readOptional(`${dir}/mode`, name) ?? 'raw';
  const ns: Namespace = {
    name,
    region,
    mode: parseNamespaceMode(modeRaw, `${dir}/mode`, name),
    size,
    labelled: false,
    enabled: false,
    daxDevices: [],
  };
  const driver = sysfs.linkName(`${dir}/driver`);
  if (driver !== undefined) ns.driver = driver;
  ns.enabled = driver !== undefined;
  const res = optBig(sysfs, `${dir}/resource`, name);
  if (res !== undefined) ns.resource = res;
  const uuid = sysfs.readOptional(`${dir}/uuid`, name);
  ns.labelled = uuid !== undefined;
  // Label-less (nd_namespace_io) namespaces have no uuid; a labelled one may print an empty one.
  if (uuid !== undefined && uuid.trim() !== '') ns.uuid = uuid.trim();
  const devtype = sysfs.readOptional(`${dir}/devtype`, name);
  if (devtype !== undefined) ns.devtype = devtype;
  const holder = sysfs.readOptional(`${dir}/holder`, name);
  if (holder !== undefined && holder.trim() !== '') {
    const seed = holder.trim();
    ns.holder = seed;
    const seedDir = `${regionDir}/${seed}`;
    const loc = sysfs.readOptional(`${seedDir}/mode`, seed);
    if (loc !== undefined) {
      const map = parseMapLocation(loc);
      if (map) ns.map = map;
    }
    const cu = sysfs.readOptional(`${seedDir}/uuid`, seed)?.trim();
    if (cu) ns.claimUuid = cu;
    const align = optBig(sysfs, `${seedDir}/align`, seed);
    if (align !== undefined) ns.align = align;
    const usable = optBig(sysfs, `${seedDir}/size`, seed);
    if (usable !== undefined && usable > 0n) ns.usableSize = usable;
    // A claimed namespace has no driver of its own; the claim's driver is what enables it.
    ns.enabled = sysfs.linkName(`${seedDir}/driver`) !== undefined;
  }
  return ns;
}

/** The uuid of a namespace or of its claiming seed (`dir`), undefined while it is unnamed (empty or all zeros). */
export function readNamedUuid(sysfs: Sysfs, dir: string): string | undefined {
  const u = sysfs.readOptional(`${dir}/uuid`)?.trim() ?? '';
  return u && !/^[0-]*$/.test(u) ? u : undefined;
}

/** The nd bus driver a namespace or seed (`dir`) is bound to, if any. */
export function ndDriver(sysfs: Sysfs, dir: string): string | undefined {
  return sysfs.linkName(`${dir}/driver`);
}

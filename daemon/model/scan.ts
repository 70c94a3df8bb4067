// scanPlatform: one pass over sysfs that builds the whole model and links it both ways
// (device → namespace → region → bus, region ↔ DIMMs, device → memory blocks), so no question
// asked of the model re-walks sysfs. Usable now: API is stable (scanPlatform(sysfs, opts)).
//
// Malformed sysfs: an attribute that is present but does not parse throws SysfsError naming the
// path. A device whose directory is listed but whose required attributes are gone is being
// removed: it is skipped and a warning naming the path goes into Platform.warnings (or, with
// {strict: true}, it throws — for callers about to act on that device).

import type {Sysfs} from '../sysfs';
import type {Bus, DaxDevice, Dimm, Namespace, Platform, Region} from './types';
import {HalfRemoved} from './attr';
import {ND_DEVICES, readBus} from './bus';
import {readDimm} from './dimm';
import {readRegion} from './region';
import {readNamespace} from './namespace';
import {DAX_DEVICES, kmemCapacity, listDax, onNdBus, readDax} from './dax';
import {readHotplug} from './hotplug';
import {blockScan, DeviceBlocks} from './memblock';
import {CXL_DEVICES, scanCxl} from './cxl/scan';
import {iomemOwner, readIomem, type IomemEntry} from './iomem';
import {NotFoundError, SysfsError, UsageError} from '../errors';

export interface ScanOptions {
  /** Read the memory blocks of each dax device (default true). */
  memblocks?: boolean;
  /** Throw on half-removed devices instead of skipping them with a warning. */
  strict?: boolean;
  /** Only read memory blocks for these dax devices (names); others get memblocks []. */
  devices?: string[];
}

/** readDax, with a device that vanished between listing and reading reported as half-removed. */
function readDaxHalfRemoved(sysfs: Sysfs, n: string, blockSize: bigint, warnings: string[]): DaxDevice {
  try {
    return readDax(sysfs, n, {blockSize, warnings});
  } catch (e) {
    if (e instanceof NotFoundError || (e instanceof SysfsError && !(e instanceof HalfRemoved) && !sysfs.exists(`${DAX_DEVICES}/${n}/size`))) {
      throw new HalfRemoved(`${DAX_DEVICES}/${n} vanished`, {path: `${DAX_DEVICES}/${n}`, device: n, cause: e});
    }
    throw e;
  }
}

/** Runs a reader; a half-removed device is skipped with a warning (or, strict, thrown). */
type Skip = <T>(fn: () => T) => T | undefined;

export function scanPlatform(sysfs: Sysfs, opts: ScanOptions = {}): Platform {
  const warnings: string[] = [];
  const skip: Skip = (fn) => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof HalfRemoved && !opts.strict) {
        warnings.push(`${e.device}: skipped, ${e.path} vanished (device being removed?)`);
        return undefined;
      }
      throw e;
    }
  };
  const hotplug = readHotplug(sysfs, warnings);
  const nd = scanNd(sysfs, skip, warnings);
  const devices = scanDaxBus(sysfs, nd, hotplug.blockSize, skip, warnings);
  const cxl = sysfs.exists(CXL_DEVICES) ? scanCxl(sysfs) : undefined;
  linkCxlAndHmem(sysfs, devices, cxl);
  if (opts.memblocks !== false && hotplug.blockSize > 0n && devices.length > 0) scanDeviceBlocks(sysfs, devices, hotplug.blockSize, opts.devices);
  const p: Platform = {buses: nd.buses, dimms: nd.dimms, regions: nd.regions, namespaces: nd.namespaces, devices, hotplug, warnings};
  if (cxl) p.cxl = cxl;
  return p;
}

interface NdScan {
  buses: Bus[];
  dimms: Dimm[];
  regions: Region[];
  namespaces: Namespace[];
  busByName: Map<string, Bus>;
  regionByName: Map<string, Region>;
  nsByName: Map<string, Namespace>;
}

const parentName = (p: string) => p.slice(0, p.lastIndexOf('/')).split('/').pop()!;
const parentDir = (p: string) => p.slice(0, p.lastIndexOf('/'));

/** The nd bus: each device resolved once; parents in /sys/devices give the hierarchy. */
function scanNd(sysfs: Sysfs, skip: Skip, warnings: string[]): NdScan {
  const ndNames = sysfs.list(ND_DEVICES);
  const real = new Map<string, string>();
  for (const n of ndNames) {
    const r = skip(() => {
      try {
        return sysfs.real(`${ND_DEVICES}/${n}`);
      } catch (e) {
        throw new HalfRemoved(`${ND_DEVICES}/${n} no longer resolves`, {path: `${ND_DEVICES}/${n}`, device: n, cause: e});
      }
    });
    if (r !== undefined) real.set(n, r);
  }
  const named = (re: RegExp) => ndNames.filter((n) => re.test(n) && real.has(n)).map((n) => [n, real.get(n)!] as const);
  const {buses, busByName} = readBuses(sysfs, ndNames, real, skip);

  const dimms: Dimm[] = [];
  const dimmByName = new Map<string, Dimm>();
  for (const [n, r] of named(/^nmem\d+$/)) {
    const bus = busByName.get(parentName(r));
    const d = bus && skip(() => readDimm(sysfs, n, r, bus));
    if (!bus || !d) continue;
    dimms.push(d);
    dimmByName.set(n, d);
    bus.dimms.push(d);
  }

  const regions: Region[] = [];
  const regionByName = new Map<string, Region>();
  const regionDir = new Map<Region, string>();
  for (const [n, r] of named(/^region\d+$/)) {
    const bus = busByName.get(parentName(r));
    const reg = bus && skip(() => readRegion(sysfs, n, r, bus));
    if (!bus || !reg) continue;
    regions.push(reg);
    regionByName.set(n, reg);
    regionDir.set(reg, r);
    bus.regions.push(reg);
    linkDimms(reg, dimmByName, warnings);
  }

  const namespaces: Namespace[] = [];
  const nsByName = new Map<string, Namespace>();
  for (const [n, r] of named(/^namespace\d+\.\d+$/)) {
    const reg = regionByName.get(parentName(r));
    const ns = reg && skip(() => readNamespace(sysfs, n, regionDir.get(reg)!, reg));
    if (!reg || !ns) continue;
    namespaces.push(ns);
    nsByName.set(n, ns);
    reg.namespaces.push(ns);
  }
  return {buses, dimms, regions, namespaces, busByName, regionByName, nsByName};
}

function readBuses(sysfs: Sysfs, ndNames: string[], real: Map<string, string>, skip: Skip): {buses: Bus[]; busByName: Map<string, Bus>} {
  const buses: Bus[] = [];
  const busByName = new Map<string, Bus>();
  const busDirs = new Set<string>();
  for (const n of ndNames) if (/^ndbus\d+$/.test(n) && real.has(n)) busDirs.add(real.get(n)!);
  // Some kernels keep ndbusN off the nd bus: find it as the parent of its regions and DIMMs.
  for (const [n, r] of real) if (/^(region|nmem)\d+$/.test(n) && /^ndbus\d+$/.test(parentName(r))) busDirs.add(parentDir(r));
  for (const dir of [...busDirs].sort()) {
    const name = dir.split('/').pop()!;
    const bus = skip(() => readBus(sysfs, name, dir));
    if (!bus) continue;
    buses.push(bus);
    busByName.set(name, bus);
  }
  buses.sort((a, b) => a.id - b.id);
  return {buses, busByName};
}

/** A region and the DIMMs its mappings name, linked both ways. */
function linkDimms(reg: Region, dimmByName: Map<string, Dimm>, warnings: string[]): void {
  for (const m of reg.mappings ?? []) {
    const d = dimmByName.get(m.dimm);
    if (!d) {
      warnings.push(`${reg.name}: mapping names ${m.dimm}, which is not on the nd bus`);
      continue;
    }
    if (!reg.dimms.includes(d)) reg.dimms.push(d);
    if (!d.regions.includes(reg)) d.regions.push(reg);
  }
}

/** The dax bus, each device linked to its NVDIMM bus, region and namespace. */
function scanDaxBus(sysfs: Sysfs, nd: NdScan, blockSize: bigint, skip: Skip, warnings: string[]): DaxDevice[] {
  const devices: DaxDevice[] = [];
  for (const n of listDax(sysfs)) {
    const dev = skip(() => readDaxHalfRemoved(sysfs, n, blockSize, warnings));
    if (!dev) continue;
    devices.push(dev);
    const o = dev.origin;
    if (!onNdBus(o)) continue;
    dev.bus = o.bus ? nd.busByName.get(o.bus) : undefined;
    dev.region = o.region ? nd.regionByName.get(o.region) : undefined;
    const ns = dev.uuids.namespaceName ? nd.nsByName.get(dev.uuids.namespaceName) : undefined;
    if (ns && ns.region === dev.region) {
      dev.namespace = ns;
      ns.daxDevices.push(dev);
    }
    if (dev.region) dev.region.daxDevices.push(dev);
  }
  for (const r of nd.regions) if (r.namespaces.some((ns) => !ns.labelled)) r.labelless = true;
  return devices;
}

/** Each CXL device's region, and each hmem device's Soft Reserved range in /proc/iomem. */
function linkCxlAndHmem(sysfs: Sysfs, devices: DaxDevice[], cxl: Platform['cxl']): void {
  let iomem: IomemEntry[] | undefined;
  for (const dev of devices) {
    if (dev.origin.kind === 'cxl') dev.cxl = cxl?.regions.find((r) => r.name === dev.origin.region);
    if (dev.origin.kind === 'hmem' && dev.ranges.length) {
      iomem ??= readIomem(sysfs);
      const e = iomemOwner(iomem, dev.ranges[0].start, dev.ranges[0].size);
      if (e) dev.iomem = {name: e.name, start: e.start, end: e.end};
    }
  }
}

/** Memory blocks: only those kmem would add for each device (of `only`, when given), present ones only. */
function scanDeviceBlocks(sysfs: Sysfs, devices: DaxDevice[], blockSize: bigint, only?: string[]): void {
  const want = only ? new Set(only) : undefined;
  const bscan = blockScan(sysfs, blockSize);
  for (const dev of devices) {
    if (want && !want.has(dev.name)) continue;
    dev.memblocks = DeviceBlocks.scanRuns(sysfs, bscan, kmemCapacity(dev.ranges, blockSize).runs);
  }
}

/** daxctl's view of a device's blocks: online count, total, and movable (only when any is online). */
export function memblockSummary(dev: DaxDevice): {online: number; total: number; movable?: boolean} {
  const online = dev.memblocks.online;
  const s: {online: number; total: number; movable?: boolean} = {online, total: dev.memblocks.length};
  if (online > 0) s.movable = dev.memblocks.allMovable();
  return s;
}

/**
 * One NVDIMM region with its bus, namespaces (with their claims) and dax devices, read with the
 * same readers as the scan but nothing else: what the layout verbs decide on, re-read after
 * every change they make.
 */
export function scanRegion(sysfs: Sysfs, name: string): Region {
  if (!/^region[0-9]+$/.test(name)) throw new UsageError(`"${name}" is not a region name`, {device: name, fix: 'name a region like region0 (see daxram list -R)'});
  const link = `${ND_DEVICES}/${name}`;
  if (!sysfs.exists(link)) throw new NotFoundError('no such region', {device: name, path: link, fix: 'list regions with: daxram list -R'});
  const dir = sysfs.real(link);
  const busDir = dir.slice(0, dir.lastIndexOf('/'));
  const bus = readBus(sysfs, busDir.split('/').pop()!, busDir);
  const region = readRegion(sysfs, name, dir, bus);
  bus.regions.push(region);
  const bs = readHotplug(sysfs, []).blockSize;
  for (const n of sysfs.list(dir, /^namespace\d+\.\d+$/)) {
    const ns = readNamespace(sysfs, n, dir, region);
    if (!ns) {
      // An unconfigured seed still tells whether the region is labelled.
      if (sysfs.readOptional(`${dir}/${n}/uuid`, n) === undefined) region.labelless = true;
      continue;
    }
    if (!ns.labelled) region.labelless = true;
    region.namespaces.push(ns);
    if (!ns.holder?.startsWith('dax')) continue;
    for (const d of sysfs.list(`${dir}/${ns.holder}`, /^dax\d+\.\d+$/)) {
      if (!sysfs.exists(`${DAX_DEVICES}/${d}`)) continue;
      const dev = readDax(sysfs, d, {blockSize: bs});
      dev.bus = bus;
      dev.region = region;
      dev.namespace = ns;
      ns.daxDevices.push(dev);
      region.daxDevices.push(dev);
    }
  }
  region.namespaces.sort((a, b) => ((a.resource ?? 0n) < (b.resource ?? 0n) ? -1 : 1));
  return region;
}

// The cxl bus, read the way the model reads the nd bus: one reader per object (memdev, port,
// decoder, region), links resolved once. /sys/bus/cxl/devices lists every object; the
// hierarchy (root → host bridge port → endpoint) is the /sys/devices path.

import * as path from 'node:path';
import type {Sysfs} from '../../sysfs';
import {NotFoundError, UsageError} from '../../errors';
import {idOf, optBig, optInt} from '../attr';
import type {CxlDecoder, CxlDecoderKind, CxlMemdev, CxlPort, CxlRegion, CxlTopology} from './types';

export const CXL_DEVICES = '/sys/bus/cxl/devices';
export const CXL_DRIVERS = '/sys/bus/cxl/drivers';

const MEMDEV_RE = /^mem\d+$/;
const PORT_RE = /^(root|port|endpoint)\d+$/;
const DECODER_RE = /^decoder\d+\.\d+$/;
const REGION_RE = /^region\d+$/;

const base = (p: string) => path.posix.basename(p);
const parentOf = (p: string) => path.posix.dirname(p);

export function readMemdev(sysfs: Sysfs, name: string, dir: string): CxlMemdev {
  const m: CxlMemdev = {
    name,
    id: idOf(name),
    dir,
    host: base(parentOf(dir)),
    ramSize: optBig(sysfs, `${dir}/ram/size`, name) ?? 0n,
    pmemSize: optBig(sysfs, `${dir}/pmem/size`, name) ?? 0n,
    numaNode: optInt(sysfs, `${dir}/numa_node`, name, -1),
    poisonList: sysfs.exists(`${dir}/trigger_poison_list`),
    dev: `/dev/cxl/${name}`,
    ramFree: 0n,
  };
  const serial = optBig(sysfs, `${dir}/serial`, name);
  if (serial !== undefined) m.serial = serial;
  const fw = sysfs.readOptional(`${dir}/firmware_version`, name)?.trim();
  if (fw) m.firmwareVersion = fw;
  return m;
}

export function readPort(sysfs: Sysfs, name: string, dir: string): CxlPort {
  const kind = name.startsWith('root') ? 'root' : name.startsWith('endpoint') ? 'endpoint' : 'switch';
  let host = '';
  try {
    host = base(sysfs.real(`${dir}/uport`));
  } catch {
    /* a port being torn down */
  }
  const dports = sysfs.list(dir, /^dport\d+$/).flatMap((d) => {
    try {
      return [{id: Number(d.slice(5)), dir: sysfs.real(`${dir}/${d}`)}];
    } catch {
      return [];
    }
  });
  const p: CxlPort = {name, kind, dir, host, decoders: sysfs.list(dir, DECODER_RE), dports};
  const up = base(parentOf(dir));
  if (PORT_RE.test(up)) p.parent = up;
  if (sysfs.exists(`${dir}/parent_dport`)) {
    try {
      p.parentDport = sysfs.real(`${dir}/parent_dport`);
    } catch {
      /* being torn down */
    }
  }
  return p;
}

function bool(sysfs: Sysfs, p: string, device: string): boolean | undefined {
  const v = sysfs.readOptional(p, device)?.trim();
  return v === undefined ? undefined : v === '1';
}

export function readDecoder(sysfs: Sysfs, name: string, dir: string, portKind: CxlPort['kind']): CxlDecoder {
  const kind: CxlDecoderKind = portKind;
  const d: CxlDecoder = {
    name,
    kind,
    port: base(parentOf(dir)),
    dir,
    start: optBig(sysfs, `${dir}/start`, name) ?? 0n,
    size: optBig(sysfs, `${dir}/size`, name) ?? 0n,
    interleaveWays: optInt(sysfs, `${dir}/interleave_ways`, name, 1),
    interleaveGranularity: optInt(sysfs, `${dir}/interleave_granularity`, name, 0),
    targets: (sysfs.readOptional(`${dir}/target_list`, name) ?? '').split(',').map((x) => x.trim()).filter(Boolean),
  };
  if (kind === 'endpoint') {
    const mode = sysfs.readOptional(`${dir}/mode`, name)?.trim();
    if (mode) d.mode = mode;
    const r = optBig(sysfs, `${dir}/dpa_resource`, name);
    if (r !== undefined) d.dpaResource = r;
    const z = optBig(sysfs, `${dir}/dpa_size`, name);
    if (z !== undefined) d.dpaSize = z;
  }
  if (kind === 'root') {
    d.capRam = bool(sysfs, `${dir}/cap_ram`, name);
    d.capPmem = bool(sysfs, `${dir}/cap_pmem`, name);
    const next = sysfs.readOptional(`${dir}/create_ram_region`, name)?.trim();
    if (next && REGION_RE.test(next)) d.nextRegion = next;
  }
  const region = sysfs.readOptional(`${dir}/region`, name)?.trim();
  if (region) d.region = region;
  const locked = bool(sysfs, `${dir}/locked`, name);
  if (locked !== undefined) d.locked = locked;
  return d;
}

export function readCxlRegion(sysfs: Sysfs, name: string, dir: string): CxlRegion {
  const ways = optInt(sysfs, `${dir}/interleave_ways`, name, 1);
  const targets: string[] = [];
  for (let i = 0; i < Math.max(ways, 1); i++) {
    const t = sysfs.readOptional(`${dir}/target${i}`, name)?.trim();
    if (t) targets.push(t);
  }
  const r: CxlRegion = {
    name,
    id: idOf(name),
    dir,
    rootDecoder: base(parentOf(dir)),
    mode: sysfs.readOptional(`${dir}/mode`, name)?.trim() ?? 'unknown',
    resource: optBig(sysfs, `${dir}/resource`, name) ?? 0n,
    size: optBig(sysfs, `${dir}/size`, name) ?? 0n,
    interleaveWays: ways,
    interleaveGranularity: optInt(sysfs, `${dir}/interleave_granularity`, name, 0),
    targets,
    decodeState: sysfs.readOptional(`${dir}/commit`, name)?.trim() === '1' ? 'commit' : 'reset',
    memdevs: [],
    hostBridges: [],
  };
  const uuid = sysfs.readOptional(`${dir}/uuid`, name)?.trim();
  if (uuid) r.uuid = uuid;
  const dr = sysfs.list(dir, /^dax_region\d+$/)[0];
  if (dr) r.daxRegion = dr;
  return r;
}

/** Every CXL object, linked: decoders to their region, regions to memdevs and host bridges. */
export function scanCxl(sysfs: Sysfs): CxlTopology {
  const names = sysfs.list(CXL_DEVICES);
  const real = new Map<string, string>();
  for (const n of names) {
    try {
      real.set(n, sysfs.real(`${CXL_DEVICES}/${n}`));
    } catch {
      /* gone between listing and resolving */
    }
  }
  const memdevs = names.filter((n) => MEMDEV_RE.test(n) && real.has(n)).map((n) => readMemdev(sysfs, n, real.get(n)!));
  const ports = names.filter((n) => PORT_RE.test(n) && real.has(n)).map((n) => readPort(sysfs, n, real.get(n)!));
  const portByName = new Map(ports.map((p) => [p.name, p]));
  const decoders = names
    .filter((n) => DECODER_RE.test(n) && real.has(n))
    .map((n) => {
      const dir = real.get(n)!;
      return readDecoder(sysfs, n, dir, portByName.get(base(parentOf(dir)))?.kind ?? 'switch');
    });
  const regions = names.filter((n) => REGION_RE.test(n) && real.has(n)).map((n) => readCxlRegion(sysfs, n, real.get(n)!));
  for (const m of memdevs) {
    m.endpoint = ports.find((p) => p.kind === 'endpoint' && p.host === m.name)?.name;
    // The volatile partition starts at DPA 0: what ram-mode endpoint decoders hold is taken.
    const taken = decoders.filter((d) => d.port === m.endpoint && d.mode === 'ram').reduce((a, d) => a + (d.dpaSize ?? 0n), 0n);
    m.ramFree = m.ramSize > taken ? m.ramSize - taken : 0n;
  }
  const decByName = new Map(decoders.map((d) => [d.name, d]));
  for (const r of regions) {
    for (const t of r.targets) {
      const ep = decByName.get(t);
      const port = ep && portByName.get(ep.port);
      if (port) r.memdevs.push(port.host);
      const hb = port?.parent ? portByName.get(port.parent) : undefined;
      if (hb && !r.hostBridges.includes(hb.host)) r.hostBridges.push(hb.host);
    }
    // A decoder serves the region whose HPA range it decodes (root decoders hold regions).
    if (r.size === 0n) continue;
    for (const d of decoders) {
      if (d.kind === 'root' || d.size === 0n || d.region) continue;
      if (d.start >= r.resource && d.start + d.size <= r.resource + r.size) d.region = r.name;
    }
  }
  return {memdevs, ports, decoders, regions};
}

/** One CXL region by name, with what scanCxl links to it. */
export function cxlRegionByName(sysfs: Sysfs, name: string): CxlRegion {
  if (!REGION_RE.test(name)) throw new UsageError(`"${name}" is not a CXL region name`, {device: name, fix: 'name a region like region0 (see daxram list --cxl)'});
  const r = scanCxl(sysfs).regions.find((x) => x.name === name);
  if (!r) throw new NotFoundError('no such CXL region', {device: name, path: `${CXL_DEVICES}/${name}`, fix: 'list CXL regions with: daxram list --cxl'});
  return r;
}

/** Whether a cxl bus driver (cxl_region, cxl_dax_region) is registered: its directory exists once its module is loaded. */
export function cxlDriverLoaded(sysfs: Sysfs, driver: string): boolean {
  return sysfs.exists(`${CXL_DRIVERS}/${driver}`);
}

/** Whether a CXL region is bound (to cxl_region). */
export function cxlRegionBound(sysfs: Sysfs, region: string): boolean {
  return sysfs.linkName(`${CXL_DEVICES}/${region}/driver`) !== undefined;
}

/** The resolved directory of a bound region's dax_regionN, once dax_cxl made it. */
export function cxlRegionDaxDir(sysfs: Sysfs, region: string): string | undefined {
  const dr = sysfs.list(`${CXL_DEVICES}/${region}`, /^dax_region\d+$/)[0];
  return dr ? sysfs.real(`${CXL_DEVICES}/${region}/${dr}`) : undefined;
}

/** The region name a root decoder's `create_ram_region` offers now ('' when none). */
export function readNextRamRegion(sysfs: Sysfs, rootDecoder: string): string {
  return sysfs.readOptional(`${CXL_DEVICES}/${rootDecoder}/create_ram_region`)?.trim() ?? '';
}

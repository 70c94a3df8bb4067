// A dax region: the capacity device-dax devices are carved from (drivers/dax/bus.c). Its
// attributes are the dax_region/ group of the device that owns it: an nd dax seed (NVDIMM,
// static: one device, sized by its namespace), hmem.N (a soft-reserved range) or a CXL
// region's dax_regionN. The last two are dynamic: devices are created (create), sized (daxX.Y/
// size, first fit from the region start), and deleted (delete) through sysfs, which is how
// `daxram reassign` splits them between System RAM and devdax.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {NotFoundError, UsageError} from '../errors';
import {optBig, optInt} from './attr';
import {DAX_DEVICES, listDax} from './dax';
import {CXL_DEVICES} from './cxl/scan';

export interface DaxRegion {
  /** X of daxX.Y (daxctl's region id). */
  id: number;
  /** The device the dax_region group hangs off (hmem.1, dax_region0, an nd dax seed), and its directory. */
  owner: string;
  ownerDir: string;
  /** ownerDir/dax_region: where create, delete, seed and available_size live. */
  attrDir: string;
  size: bigint;
  align: bigint;
  /** Devices can be created, resized and deleted (hmem, CXL); false for NVDIMM namespaces. */
  dynamic: boolean;
  /** Capacity no device holds (dynamic regions). */
  available?: bigint;
  /** The zero-sized device waiting to be sized, if any. */
  seed?: string;
  /** Its devices (daxX.Y), by Y. */
  devices: string[];
}

/** Soft-reserved ranges are platform devices named hmem.N. */
const HMEM_DEVICES = '/sys/bus/platform/devices';
const DAX_RE = /^dax(\d+)\.(\d+)$/;

export function readDaxRegion(sysfs: Sysfs, ownerDir: string): DaxRegion {
  const owner = path.posix.basename(ownerDir);
  const attrDir = `${ownerDir}/dax_region`;
  if (!sysfs.exists(`${attrDir}/id`)) throw new NotFoundError(`${owner} has no dax region`, {device: owner, path: attrDir});
  const id = optInt(sysfs, `${attrDir}/id`, owner, -1);
  const dynamic = sysfs.exists(`${attrDir}/create`);
  const r: DaxRegion = {
    id,
    owner,
    ownerDir,
    attrDir,
    size: optBig(sysfs, `${attrDir}/size`, owner) ?? 0n,
    align: optBig(sysfs, `${attrDir}/align`, owner) ?? 0n,
    dynamic,
    devices: sysfs
      .list(ownerDir, DAX_RE)
      .filter((d) => Number(DAX_RE.exec(d)![1]) === id)
      .sort((a, b) => Number(DAX_RE.exec(a)![2]) - Number(DAX_RE.exec(b)![2])),
  };
  if (dynamic) {
    r.available = optBig(sysfs, `${attrDir}/available_size`, owner) ?? 0n;
    const seed = sysfs.readOptional(`${attrDir}/seed`, owner)?.trim();
    if (seed) r.seed = seed;
  }
  return r;
}

/** The region a dax device was carved from. */
export function daxRegionOf(sysfs: Sysfs, device: string): DaxRegion {
  return readDaxRegion(sysfs, path.posix.dirname(sysfs.real(`${DAX_DEVICES}/${device}`)));
}

/**
 * A dynamic dax region by the name an operator knows it by: hmem.N (a soft-reserved range),
 * a CXL region (regionN) or its dax_regionN. NVDIMM regions are laid out by namespaces instead.
 */
export function findDaxRegion(sysfs: Sysfs, name: string): DaxRegion {
  let ownerDir: string | undefined;
  if (/^hmem\.\d+$/.test(name)) {
    const p = `${HMEM_DEVICES}/${name}`;
    if (sysfs.exists(p)) ownerDir = sysfs.real(p);
  } else if (/^dax_region\d+$/.test(name)) {
    const p = `${CXL_DEVICES}/${name}`;
    if (sysfs.exists(p)) ownerDir = sysfs.real(p);
  } else if (/^region\d+$/.test(name)) {
    const p = `${CXL_DEVICES}/${name}`;
    if (sysfs.exists(p)) {
      const dr = sysfs.list(p, /^dax_region\d+$/)[0];
      if (!dr) throw new UsageError(`CXL ${name} has no dax region`, {device: name, fix: `it is not a RAM region bound to cxl_region; see daxram list --cxl`});
      ownerDir = sysfs.real(`${p}/${dr}`);
    }
  } else {
    throw new UsageError(`"${name}" names no dax region`, {device: name, fix: 'name an NVDIMM or CXL region (regionN), a CXL dax_regionN or a soft-reserved range (hmem.N); see daxram list'});
  }
  if (!ownerDir) {
    const known = [...new Set(listDax(sysfs).map((d) => {
      try {
        return path.posix.basename(path.posix.dirname(sysfs.real(`${DAX_DEVICES}/${d}`)));
      } catch {
        return '';
      }
    }))].filter((o) => /^(hmem\.\d+|dax_region\d+)$/.test(o));
    throw new NotFoundError('no such dax region', {device: name, fix: `dynamic dax regions present: ${known.join(', ') || 'none'} (see daxram list)`});
  }
  return readDaxRegion(sysfs, ownerDir);
}

/** The soft-reserved ranges' platform devices (hmem.N), whether or not dax_hmem made a region of each yet. */
export function listHmem(sysfs: Sysfs): string[] {
  return sysfs.list(HMEM_DEVICES, /^hmem\.\d+$/);
}

/** The device a dynamic region's `create` offers next (its seed), '' when it offers none. */
export function readCreateSeed(sysfs: Sysfs, dr: DaxRegion): string {
  return sysfs.readOptional(`${dr.attrDir}/create`)?.trim() ?? '';
}

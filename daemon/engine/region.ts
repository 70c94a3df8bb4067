// The engine's live view of a libnvdimm region for laying out namespaces: its range and align,
// the seeds the kernel keeps for creating the next namespace and dax claim, and the
// namespaces (with their claims and dax devices) that hold capacity now.

import * as crypto from 'node:crypto';
import type {Sysfs} from '../sysfs';
import {NotFoundError, UsageError} from '../errors';
import {DAX_DEVICES, readDax} from './device';

export const ND_DEVICES = '/sys/bus/nd/devices';
export const ND_DRIVERS = '/sys/bus/nd/drivers';

export interface NsState {
  name: string;
  size: bigint;
  start?: bigint;
  /** The seed that claims it (daxX.Y, pfnX.Y, bttX.Y), from holder. */
  holder?: string;
  /** raw | dax | memory | safe (the kernel's words) */
  mode: string;
  /** Bound to a driver itself (a raw or label-less namespace exposes /dev/pmemX). */
  driver?: string;
  /** device-dax devices under the claim, with their driver. */
  dax: {name: string; driver?: string}[];
}

export interface RegionState {
  name: string;
  path: string;
  start: bigint;
  size: bigint;
  align: bigint;
  available: bigint;
  namespaceSeed?: string;
  daxSeed?: string;
  namespaces: NsState[];
  labelless: boolean;
}

export function readRegion(sysfs: Sysfs, name: string): RegionState {
  if (!/^region[0-9]+$/.test(name)) throw new UsageError(`"${name}" is not a region name`, {device: name, fix: 'name a region like region0 (see daxram list)'});
  const link = `${ND_DEVICES}/${name}`;
  if (!sysfs.exists(link)) throw new NotFoundError('no such region', {device: name, path: link, fix: 'list regions with: daxram list'});
  const path = sysfs.real(link);
  const namespaces: NsState[] = [];
  let labelless = false;
  for (const n of sysfs.list(path, /^namespace[0-9]+\.[0-9]+$/)) {
    const dir = `${path}/${n}`;
    const size = sysfs.readBig(`${dir}/size`, n);
    if (sysfs.readOptional(`${dir}/uuid`, n) === undefined) labelless = true;
    if (size === 0n) continue;
    const holder = (sysfs.readOptional(`${dir}/holder`, n) ?? '').trim() || undefined;
    const res = sysfs.readOptional(`${dir}/resource`, n);
    const dax: NsState['dax'] = [];
    if (holder?.startsWith('dax')) {
      for (const d of sysfs.list(`${path}/${holder}`, /^dax[0-9]+\.[0-9]+$/)) {
        if (sysfs.exists(`${DAX_DEVICES}/${d}`)) dax.push({name: d, driver: readDax(sysfs, d).driver});
      }
    }
    namespaces.push({
      name: n,
      size,
      start: res ? BigInt(res) : undefined,
      holder,
      mode: (sysfs.readOptional(`${dir}/mode`, n) ?? 'raw').trim(),
      driver: sysfs.linkName(`${dir}/driver`),
      dax,
    });
  }
  return {
    name,
    path,
    start: sysfs.readBig(`${path}/resource`, name),
    size: sysfs.readBig(`${path}/size`, name),
    align: BigInt(sysfs.readOptional(`${path}/align`, name) ?? String(16 << 20)),
    available: sysfs.readBig(`${path}/available_size`, name),
    namespaceSeed: sysfs.readOptional(`${path}/namespace_seed`, name)?.trim() || undefined,
    daxSeed: sysfs.readOptional(`${path}/dax_seed`, name)?.trim() || undefined,
    namespaces,
    labelless,
  };
}

export function newUuid(): string {
  return crypto.randomUUID();
}

// ndbusN: one NVDIMM bus, the scope of /dev/ndctlN and of address range scrub.

import type {Sysfs} from '../sysfs';
import {SysfsError} from '../errors';
import type {Bus} from './types';
import {idOf, need} from './attr';

export const ND_DEVICES = '/sys/bus/nd/devices';
export const ND_DRIVERS = '/sys/bus/nd/drivers';

/** nfit/scrub prints the count of completed kernel scrubs, with "+" while one is running. */
export function parseScrub(raw: string, path: string, device?: string): {count: number; running: boolean} {
  const m = /^(\d+)(\+?)$/.exec(raw.trim());
  if (!m) throw new SysfsError(`${path}: expected a scrub count like "3" or "3+", got "${raw}"`, {path, device});
  return {count: Number(m[1]), running: m[2] === '+'};
}

/** `commands` is a space-separated word list; empty when the firmware offers none. */
export function parseWords(raw: string | undefined): string[] {
  const s = (raw ?? '').trim();
  return s === '' ? [] : s.split(/\s+/);
}

/** Who implements the bus: ACPI.NFIT, nfit_test.N, e820 (memmap= and legacy pmem), of_pmem. */
export function readProvider(sysfs: Sysfs, dir: string, name: string): string {
  return need(sysfs, `${dir}/provider`, name);
}

/** Read ndbusN; `dir` is its resolved /sys/devices/… path. Links (regions, dimms) start empty. */
export function readBus(sysfs: Sysfs, name: string, dir: string): Bus {
  const provider = readProvider(sysfs, dir, name);
  const commands = parseWords(sysfs.readOptional(`${dir}/commands`, name));
  const scrubPath = `${dir}/nfit/scrub`;
  const scrubRaw = sysfs.readOptional(scrubPath, name);
  // The character device is the bus's class child ndctlN; its number is not always the bus's.
  const ctl = sysfs.list(dir, /^ndctl\d+$/)[0] ?? `ndctl${idOf(name)}`;
  const bus: Bus = {
    name,
    id: idOf(name),
    provider,
    dev: `/dev/${ctl}`,
    commands,
    scrubSupported: scrubRaw !== undefined,
    regions: [],
    dimms: [],
  };
  if (scrubRaw !== undefined) bus.scrub = parseScrub(scrubRaw, scrubPath, name);
  return bus;
}

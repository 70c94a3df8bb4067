// nmemN: one NVDIMM. Its flags (nfit/flags) and security state are what the policy gates read.

import type {Sysfs} from '../sysfs';
import {parseIntAttr} from '../sysfs';
import type {Bus, Dimm} from './types';
import {idOf, need} from './attr';
import {parseWords} from './bus';

const SECURITY = new Set(['disabled', 'unlocked', 'locked', 'frozen', 'overwrite']);

/** nmemN/security; the kernel hides it when the DIMM has no security ops ("unsupported"). */
export function readSecurity(sysfs: Sysfs, dir: string, name: string): string {
  const s = sysfs.readOptional(`${dir}/security`, name);
  if (s === undefined) return 'unsupported';
  return SECURITY.has(s.trim()) ? s.trim() : 'unknown';
}

/** Read nmemN under its bus; `dir` is its resolved /sys/devices/… path. */
export function readDimm(sysfs: Sysfs, name: string, dir: string, bus: Bus): Dimm {
  // devtype is always present on a live nmem; its absence means the device is going away.
  need(sysfs, `${dir}/devtype`, name);
  const flags = parseWords(sysfs.readOptional(`${dir}/nfit/flags`, name));
  const security = readSecurity(sysfs, dir, name);
  const handleRaw = sysfs.readOptional(`${dir}/nfit/handle`, name);
  const physRaw = sysfs.readOptional(`${dir}/nfit/phys_id`, name);
  const dimm: Dimm = {name, id: idOf(name), bus, flags, security, dev: `/dev/${name}`, regions: []};
  if (handleRaw !== undefined) dimm.handle = parseIntAttr(handleRaw, `${dir}/nfit/handle`, name);
  if (physRaw !== undefined) dimm.physId = parseIntAttr(physRaw, `${dir}/nfit/phys_id`, name);
  const uid = sysfs.readOptional(`${dir}/nfit/id`, name);
  if (uid !== undefined) dimm.uid = uid;
  const state = sysfs.readOptional(`${dir}/state`, name);
  if (state !== undefined) dimm.state = state;
  return dimm;
}

// The identity of a dax device that survives a reboot, computed in one place: an operator
// record (written by the CLI) and daxramd's view of the same device must key it alike, or the
// daemon would not see the operator's decision and could undo it.

import type {DaxDevice} from './types';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/**
 * uuid:<namespace uuid> for a devdax namespace (the label's own, ndctl's raw_uuid, which the
 * layout verbs create); else res:<dax region>:<start of the range at device offset 0> for
 * devices without a namespace (hmem, CXL); else the kernel name, which can move.
 */
export function deviceKey(dev: Pick<DaxDevice, 'name' | 'daxRegion' | 'ranges' | 'uuids'>): string {
  const uuid = dev.uuids.namespace;
  if (uuid && isUuid(uuid)) return `uuid:${uuid.toLowerCase()}`;
  const start = dev.ranges[0]?.start;
  if (start !== undefined) return `res:${dev.daxRegion}:0x${start.toString(16)}`;
  return `dax:${dev.name}`;
}

/** Every uuid a rule or reservation may name the device by: the namespace's and the info block's. */
export function deviceUuids(dev: Pick<DaxDevice, 'uuids'>): string[] {
  return [dev.uuids.infoBlock, dev.uuids.namespace].filter((u): u is string => !!u);
}

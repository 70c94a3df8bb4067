// Zones, as an operator asks for them and as memoryN/state and valid_zones speak them.

export type ZoneRequest = 'movable' | 'normal' | 'auto';

/** The memoryN/state value that asks for a zone. */
export function onlineValue(zone: ZoneRequest): string {
  return zone === 'movable' ? 'online_movable' : zone === 'normal' ? 'online_kernel' : 'online';
}

/** Whether an online block's zone (its valid_zones) satisfies the request. */
export function zoneMatches(zone: ZoneRequest, zones: string[]): boolean {
  if (zone === 'auto') return true;
  if (zone === 'movable') return zones.length === 1 && zones[0] === 'Movable';
  return zones.length === 1 && zones[0] !== 'Movable';
}

export function zoneWord(zone: ZoneRequest): string {
  return zone === 'auto' ? 'chosen by the kernel' : zone === 'movable' ? 'Movable' : 'Normal';
}

// After every online and offline the kernel walks the zone from its first pageblock until it
// meets a hole, to learn whether the zone is contiguous (set_zone_contiguous, called from
// move_pfn_range_to_zone and remove_pfn_range_from_zone; twice per online with memmap on the
// device). Blocks onlined in ascending order never leave a hole, so each online walks all the
// memory onlined before it: quadratic in the device's size (16 GiB in a TCG guest: 13.6 ms per
// block against daxctl's 7.3, whose sysfs order is scattered). Keeping a hole right after the
// zone's first block until the last step makes every walk but one stop at once.

/** One zone's blocks in online order: the lowest, then the highest, then down to the second. */
export function onlineOrder(ids: number[]): number[] {
  const s = [...ids].sort((a, b) => a - b);
  return s.length < 3 ? s : [s[0], ...s.slice(1).reverse()];
}

/** A device's blocks in offline order: the second lowest (the hole), the highest down, the lowest last. */
export function offlineOrder(ids: number[]): number[] {
  const s = [...ids].sort((a, b) => a - b);
  return s.length < 3 ? s.reverse() : [s[1], ...s.slice(2).reverse(), s[0]];
}

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

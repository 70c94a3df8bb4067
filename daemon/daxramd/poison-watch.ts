// New poison in capacity daxramd manages. Each look compares the poison the kernel reports now
// (region badblocks for NVDIMMs) with what it reported before; what is new and lies in a
// device that is System RAM is handed to the engine's isolate operation (locked, journalled,
// verified), what disappeared is counted as cleared.

import {clip, normalize, type Range} from '../util/ranges';
import type {DaxDevice, Platform} from '../model/types';
import type {Metrics} from './metrics';
import type {DaemonLog} from './log';

export interface NewPoison {
  device: string;
  ranges: Range[];
}

export class PoisonWatch {
  /** Per source (region name): the poison seen last time, as "start:length". */
  private known = new Map<string, Set<string>>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: DaemonLog,
  ) {}

  /**
   * Record what the platform shows; return new poison inside System RAM devices that `managed`
   * says daxramd manages (unmanaged memory is reported, never touched).
   */
  look(platform: Platform, managed: (dev: DaxDevice) => boolean): NewPoison[] {
    const out = new Map<string, Range[]>();
    for (const region of platform.regions) {
      const seen = this.known.get(region.name) ?? new Set<string>();
      const now = new Set(region.badblocks.map((b) => `${b.start}:${b.length}`));
      for (const b of region.badblocks) {
        if (seen.has(`${b.start}:${b.length}`)) continue;
        this.metrics.poisonFound.inc({region: region.name}, Number(b.length));
        const r = {start: b.start, size: b.length};
        const dev = region.daxDevices.find((d) => d.ranges.some((x) => clip([r], x).length > 0));
        this.log.warn(`poison at 0x${b.start.toString(16)}+${b.length}${dev ? ` in ${dev.name} (${dev.mode})` : ''}`, region.name);
        if (dev && dev.mode === 'system-ram' && managed(dev)) out.set(dev.name, [...(out.get(dev.name) ?? []), ...dev.ranges.flatMap((x) => clip([r], x))]);
      }
      for (const k of seen) if (!now.has(k)) this.metrics.poisonCleared.inc({region: region.name}, Number(k.split(':')[1]));
      this.known.set(region.name, now);
    }
    return [...out].map(([device, ranges]) => ({device, ranges: normalize(ranges)}));
  }
}

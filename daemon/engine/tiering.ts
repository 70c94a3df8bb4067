// `[daemon] tiering = on`: while memory daxram manages is System RAM, the kernel demotes cold
// pages to it under reclaim (demotion_enabled) and promotes hot ones back (numa_balancing's
// memory-tiering bit); when the last of it goes back to devdax, both switches get the values
// they had. Those values are recorded (tiering.json in the state directory) before the first
// write, so a daxramd that crashed or was stopped restores them on its next start. A record from
// an earlier boot is dropped: the kernel started again from its own defaults and sysctl.d.

import * as path from 'node:path';
import type {Context} from './context';
import {bootRecord} from './boot-record';
import {DEMOTION, NUMA_BALANCING_TIERING, readTiering} from '../model/tiers';

/** The door to sysfs the engine is handed (context.ts); reads go through the model's readers. */
type Sysfs = Context['sysfs'];

export const TIERING_RECORD = 'tiering.json';

export interface TieringRecord {
  version: 1;
  bootId: string;
  /** The values before daxram set them (absent: the kernel had no such switch). */
  demotion?: boolean;
  numaBalancing?: number;
  at: string;
}

export interface TieringOutcome {
  action: 'applied' | 'restored' | 'none';
  detail?: string;
  record?: TieringRecord;
}

/**
 * Bring the switches to what `enabled` and the RAM online say; record before changing anything.
 * Callers hold the lock (engine/index.ts setTiering).
 */
export function doTiering(sysfs: Sysfs, stateDir: string, enabled: boolean, ramOnline: boolean): TieringOutcome {
  const record = bootRecord<TieringRecord>(sysfs, stateDir, TIERING_RECORD, (r) => (r as TieringRecord).version === 1);
  const {bootId} = record;
  let rec = record.rec;
  const now = readTiering(sysfs);
  if (enabled && ramOnline && !rec) {
    rec = {version: 1, bootId, demotion: now.demotion, numaBalancing: now.numaBalancing, at: new Date().toISOString()};
    record.save(rec);
    const done: string[] = [];
    if (now.demotion === false) {
      sysfs.writeAttr(path.posix.dirname(DEMOTION), 'numa', 'demotion_enabled', '1');
      done.push('demotion_enabled 0 → 1');
    }
    if (now.numaBalancing !== undefined && (now.numaBalancing & NUMA_BALANCING_TIERING) === 0) {
      const v = now.numaBalancing | NUMA_BALANCING_TIERING;
      sysfs.writeSysctl('kernel/numa_balancing', String(v));
      done.push(`kernel.numa_balancing ${now.numaBalancing} → ${v}`);
    }
    return {action: 'applied', detail: done.length ? done.join(', ') : 'both already on', record: rec};
  }
  if (rec && (!enabled || !ramOnline)) {
    const done: string[] = [];
    if (rec.demotion !== undefined && now.demotion !== rec.demotion) {
      sysfs.writeAttr(path.posix.dirname(DEMOTION), 'numa', 'demotion_enabled', rec.demotion ? '1' : '0');
      done.push(`demotion_enabled → ${rec.demotion ? 1 : 0}`);
    }
    if (rec.numaBalancing !== undefined && now.numaBalancing !== rec.numaBalancing) {
      sysfs.writeSysctl('kernel/numa_balancing', String(rec.numaBalancing));
      done.push(`kernel.numa_balancing → ${rec.numaBalancing}`);
    }
    record.drop();
    return {action: 'restored', detail: done.length ? done.join(', ') : 'already as they were'};
  }
  return {action: 'none', record: rec};
}

// What should become of one device, and why: an operator record first (the CLI's decision,
// kept across restarts), then what a declared region says of its devices (declared.ts), then
// our config, then daxctl's, then the unmatched policy. A reservation in the config wins over a
// declared region (the gates enforce it against operator records too).

import type {DaxDevice} from '../model/types';
import {deviceKey, nvdimmRegionKey} from '../model/identity';
import {onNdBus} from '../model/dax';
import {chooseRule, type Config, type DeviceMode, type Zone} from '../config/config';
import type {OperatorRecord} from '../config/state';
import type {Gates} from '../config/rules';

export interface Desired {
  mode: DeviceMode;
  zone: Zone;
  online: boolean;
  node?: number;
  /** "operator (online, 2025-…)" | "/etc/daxram/daxram.conf:12" | "/etc/daxctl.conf.d/x.conf:3" | "unmatched = ram" */
  source: string;
  gates: Gates;
  /** Several rules name the device (config.ts chooseRule): reported, with the one that applies. */
  overlap?: string;
}

export function desiredFor(cfg: Config, dev: DaxDevice, records: OperatorRecord[], declared?: Desired): Desired | undefined {
  const key = deviceKey(dev);
  const choice = chooseRule(cfg, dev);
  const rule = choice?.rule;
  const overlap = choice?.overlap;
  // A device's own record first; then a whole-region one left by reassign/provision.
  const rec = records.find((r) => r.key === key) ?? (onNdBus(dev.origin) && dev.origin.region ? records.find((r) => r.key === nvdimmRegionKey(dev.origin.region!)) : undefined);
  const gates = rule?.gates ?? {};
  if (rec) {
    return {mode: rec.mode, zone: rec.zone ?? rule?.zone ?? 'movable', online: rec.online ?? true, source: `operator (${rec.action} at ${rec.at})`, gates, overlap};
  }
  if (declared && rule?.mode !== 'reserved') return {...declared, node: rule?.node, gates, overlap};
  if (rule) return {mode: rule.mode, zone: rule.zone, online: rule.online, node: rule.node, source: `${rule.source.file}:${rule.source.line}`, gates, overlap};
  if (cfg.daemon.unmatched === 'ram') return {mode: 'ram', zone: 'movable', online: true, source: 'unmatched = ram', gates: {}};
  return undefined;
}

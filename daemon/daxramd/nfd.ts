// node-feature-discovery's local feature source: nfd-worker reads name=value lines from files
// in features.d and makes node labels of them (unprefixed names get feature.node.kubernetes.io/).
// NFD's own memory source labels NUMA, NVDIMM and swap only; these say what daxram made of the
// box, so a scheduler or an NRI policy can place pods by it. Written whole after every
// reconcile, and only where NFD's directory exists: nothing is created on a box without it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {DaxDevice} from '../model/types';
import {memblockBytes} from '../model/dax';
import type {NodeZones} from '../model/node';
import {tierOf, type MemoryTier} from '../model/tiers';
import {overRatio, ratioText, zoneTotals} from '../policy/zone-balance';
import {DEFAULT_POLICY} from '../policy/settings';
import {writeAtomic} from '../util/atomic';

export interface FeatureFacts {
  devices: DaxDevice[];
  /** Devices a rule or record manages. */
  managed: (d: DaxDevice) => boolean;
  tiers: MemoryTier[];
  zones: NodeZones[];
  cxlMemdevs: number;
  /** Pages isolated for poison since daxramd started, all devices. */
  isolatedPages: number;
  /** 'ok', or why daxramd is changing nothing / running on an old configuration. */
  state: 'ok' | 'config-rejected' | 'held';
}

/** Whole MiB, rounded down: label values are text, and schedulers compare integers. */
const mib = (b: bigint) => String(b >> 20n);

/** The labels, name → value; every value a valid Kubernetes label value. */
export function nodeFeatures(f: FeatureFacts): Map<string, string> {
  const l = new Map<string, string>();
  const managed = f.devices.filter(f.managed);
  const ram = managed.filter((d) => d.mode === 'system-ram');
  l.set('daxram-ram-mib', mib(ram.reduce((s, d) => s + memblockBytes(d).online, 0n)));
  const byTier = new Map<number, bigint>();
  for (const d of ram) {
    const t = tierOf(f.tiers, d.targetNode);
    if (t !== undefined) byTier.set(t, (byTier.get(t) ?? 0n) + memblockBytes(d).online);
  }
  for (const [t, b] of [...byTier].sort((a, b) => a[0] - b[0])) l.set(`daxram-ram-tier${t}-mib`, mib(b));
  l.set('daxram-devdax-mib', mib(managed.filter((d) => d.mode === 'devdax').reduce((s, d) => s + d.size, 0n)));
  l.set('daxram-cxl', f.cxlMemdevs > 0 ? 'true' : 'false');
  l.set('daxram-poison', f.isolatedPages > 0 ? 'isolated' : 'clean');
  l.set('daxram-poison-isolated-pages', String(f.isolatedPages));
  const total = zoneTotals(f.zones);
  if (total.kernel > 0n) {
    // "0.50" rather than "0.50:1": a label value has no colon.
    l.set('daxram-movable-kernel', ratioText(total).replace(/:1$/, '').replace(/ /g, '-').toLowerCase());
    l.set('daxram-zone-balance', overRatio(total, DEFAULT_POLICY.zoneRatio) ? 'over' : 'within');
  }
  l.set('daxram-state', f.state);
  return l;
}

export function renderFeatures(labels: Map<string, string>): string {
  return ['# written by daxramd after each reconcile; see daxram status', ...[...labels].map(([k, v]) => `${k}=${v}`)].join('\n') + '\n';
}

/** Write the file when its directory exists (NFD installed); returns whether it wrote. */
export function writeFeatures(file: string, labels: Map<string, string>): boolean {
  if (!fs.existsSync(path.dirname(file))) return false;
  // Public, like the metrics: nfd-worker reads it.
  writeAtomic(file, renderFeatures(labels), {mode: 0o644, sharedDir: true});
  return true;
}

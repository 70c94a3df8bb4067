// Prometheus metrics in the text exposition format, for node_exporter's textfile collector:
// the whole file is rewritten atomically (temp + rename) so the collector never reads half.

import * as path from 'node:path';
import type {DaxDevice} from '../model/types';
import {memblockBytes} from '../model/dax';
import {writeAtomic} from '../util/atomic';
import type {ProgressUpdate} from '../util/progress';

export const METRICS_FILE = 'daxram.prom';

type Labels = Record<string, string>;

class Counter {
  readonly values = new Map<string, {labels: Labels; value: number}>();
  inc(labels: Labels, by = 1): void {
    const k = labelKey(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, {labels, value: by});
  }
  get(labels: Labels): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
}

export type CapacityState = 'ram-online' | 'ram-offline' | 'devdax' | 'disabled' | 'reserved' | 'unknown';

export class Metrics {
  readonly transitions = new Counter();
  readonly failures = new Counter();
  readonly poisonFound = new Counter();
  readonly poisonCleared = new Counter();
  readonly poisonIsolated = new Counter();
  /** Pages soft-offlined after a corrected-error threshold event (daxramd/ras.ts). */
  readonly softOfflined = new Counter();
  /** CXL media-error events, by memdev, severity and what daxramd did. */
  readonly mediaEvents = new Counter();
  /** bytes by node and state, recomputed from each scan. */
  capacity = new Map<string, {labels: Labels; value: number}>();
  lastReconcile = 0;
  devicesManaged = 0;
  /** Memory tier of each node holding dax capacity, and the kernel's tiering switches. */
  tiers: {node: number; tier: number}[] = [];
  demotion?: boolean;
  promotion?: boolean;
  /** Weighted-interleave weight of each node (the kernel's, whoever set them), and who sets them. */
  interleave?: {weights: Record<string, number>; setBy: 'daxram' | 'kernel' | 'none'};
  /** 1 while the files on disk are rejected and the configuration loaded before is in force. */
  configRejected = 0;
  /** Reservations no longer in the configuration, still enforced until `daxram forget`. */
  reservationsRetired = 0;
  /** 1 while daxramd changes no device because what protects them cannot be read. */
  heldStill = 0;
  /** Long work under way (blocks onlined or offlined, bytes zeroed), as STATUS shows it. */
  work?: ProgressUpdate;

  transition(device: string, to: string): void {
    this.transitions.inc({device, to});
  }
  failure(device: string, operation: string): void {
    this.failures.inc({device, operation});
  }

  /** Recompute capacity from a scan: ram-online counts only blocks that are online. */
  setCapacity(devices: DaxDevice[], reserved: (d: DaxDevice) => boolean = () => false): void {
    const m = new Map<string, {labels: Labels; value: number}>();
    const add = (node: number, state: CapacityState, bytes: bigint) => {
      if (bytes <= 0n) return;
      const labels = {node: String(node), state};
      const k = labelKey(labels);
      const cur = m.get(k);
      if (cur) cur.value += Number(bytes);
      else m.set(k, {labels, value: Number(bytes)});
    };
    for (const d of devices) {
      if (d.mode === 'system-ram') {
        const b = memblockBytes(d);
        add(d.targetNode, 'ram-online', b.online);
        add(d.targetNode, 'ram-offline', b.offline);
      } else if (reserved(d)) add(d.targetNode, 'reserved', d.size);
      else if (d.mode === 'devdax') add(d.targetNode, 'devdax', d.size);
      else if (d.mode === 'disabled') add(d.targetNode, 'disabled', d.size);
      else add(d.targetNode, 'unknown', d.size);
    }
    this.capacity = m;
  }

  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string, rows: Iterable<{labels: Labels; value: number}>) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const r of rows) out.push(`${name}${fmtLabels(r.labels)} ${r.value}`);
    };
    family('daxram_capacity_bytes', 'gauge', 'Device-dax capacity by NUMA node and state.', this.capacity.values());
    family('daxram_transitions_total', 'counter', 'Device state changes made by daxramd.', this.transitions.values.values());
    family('daxram_failures_total', 'counter', 'Operations that failed, by device and operation.', this.failures.values.values());
    family('daxram_poison_found_total', 'counter', 'Poisoned bytes found in managed regions.', this.poisonFound.values.values());
    family('daxram_poison_cleared_total', 'counter', 'Poisoned bytes cleared.', this.poisonCleared.values.values());
    family('daxram_poison_isolated_pages_total', 'counter', 'Pages of onlined RAM hard-offlined because of poison.', this.poisonIsolated.values.values());
    family('daxram_pages_soft_offlined_total', 'counter', 'Pages of onlined RAM soft-offlined (content migrated) after a corrected-error threshold event.', this.softOfflined.values.values());
    family('daxram_cxl_media_events_total', 'counter', 'CXL media-error events (general media, DRAM) by memdev, severity and action taken.', this.mediaEvents.values.values());
    family('daxram_memory_tier', 'gauge', 'Memory tier (memory_tierN) of each node holding device-dax capacity; lower is faster.', this.tiers.map((t) => ({labels: {node: String(t.node)}, value: t.tier})));
    if (this.demotion !== undefined) family('daxram_tiering_demotion_enabled', 'gauge', 'The kernel demotes cold pages to lower tiers under reclaim (1) or not (0).', [{labels: {}, value: this.demotion ? 1 : 0}]);
    if (this.promotion !== undefined) family('daxram_tiering_promotion_enabled', 'gauge', "NUMA balancing's memory-tiering mode promotes hot pages from lower tiers (1) or not (0).", [{labels: {}, value: this.promotion ? 1 : 0}]);
    if (this.interleave) {
      const by = this.interleave.setBy;
      family('daxram_interleave_weight', 'gauge', 'Weighted-interleave weight of each node, and who set it from the bandwidth (daxram, the kernel\'s auto mode, or none).', Object.entries(this.interleave.weights).map(([n, w]) => ({labels: {node: n.slice(4), set_by: by}, value: w})));
    }
    family('daxram_config_rejected', 'gauge', 'The configuration files were rejected; the last good configuration is in force (1) or not (0).', [{labels: {}, value: this.configRejected}]);
    family('daxram_reservations_retired', 'gauge', 'Reservations gone from the configuration and still enforced until daxram forget.', [{labels: {}, value: this.reservationsRetired}]);
    family('daxram_held_still', 'gauge', 'daxramd changes no device because the operator records or reservations cannot be read (1).', [{labels: {}, value: this.heldStill}]);
    if (this.work) {
      // Written while the work runs (at most once a second) and gone when it ends.
      const labels = {device: this.work.device, work: this.work.what};
      family('daxram_work_done', 'gauge', 'Long work under way: memory blocks (online, offline) or bytes (zero) done.', [{labels, value: this.work.done}]);
      family('daxram_work_total', 'gauge', 'Long work under way: memory blocks or bytes in all.', [{labels, value: this.work.total}]);
    }
    family('daxram_devices_managed', 'gauge', 'Devices a config rule or operator record applies to.', [{labels: {}, value: this.devicesManaged}]);
    family('daxram_last_reconcile_timestamp_seconds', 'gauge', 'When daxramd last compared desired and actual state.', [{labels: {}, value: this.lastReconcile}]);
    return out.join('\n') + '\n';
  }

  /** Write daxram.prom into the collector directory, atomically. */
  write(dir: string): string {
    const file = path.join(dir, METRICS_FILE);
    // Public, for node_exporter (not root), in a directory that may be the prometheus user's.
    writeAtomic(file, this.render(), {mode: 0o644, sharedDir: true});
    return file;
  }
}

function labelKey(l: Labels): string {
  return Object.keys(l)
    .sort()
    .map((k) => `${k}=${l[k]}`)
    .join(',');
}

function fmtLabels(l: Labels): string {
  const ks = Object.keys(l).sort();
  if (ks.length === 0) return '';
  return '{' + ks.map((k) => `${k}="${l[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}';
}

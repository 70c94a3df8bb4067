// `[daemon] interleave-weights = on`: while memory daxram manages is System RAM on a node, the
// weighted-interleave weights of that node and of the DRAM nodes follow the platform's own
// numbers: each node's access bandwidth from its nearest CPUs (nodeN/access0/initiators, from
// HMAT or CDAT), in proportion, the smallest set that keeps the ratio (20000 and 5000 MB/s: 4 and
// 1). Tasks that ask for MPOL_WEIGHTED_INTERLEAVE then spread their pages as the bandwidth does;
// nothing else reads the weights. Kernels with `auto` (6.16+) compute them themselves, and a
// write would switch that off: there they are left alone and reported. The weights the nodes had
// are recorded (interleave.json) before the first write and written back when the last of
// daxram's RAM goes, or at the next start after a crash; a record from an earlier boot is
// dropped, as the kernel started again from its defaults.

import type {Context} from './context';
import {bootRecord} from './boot-record';
import {readAccess, readInterleaveWeights, WEIGHTED_INTERLEAVE} from '../model/mempolicy';
import {readCpuNodes} from '../model/node';

/** The door to sysfs the engine is handed (context.ts); reads go through the model's readers. */
type Sysfs = Context['sysfs'];

export const INTERLEAVE_RECORD = 'interleave.json';

interface InterleaveRecord {
  version: 1;
  bootId: string;
  /** Each node's weight before daxram wrote it. */
  before: Record<string, number>;
  at: string;
}

export interface InterleaveOutcome {
  action: 'applied' | 'restored' | 'none';
  /** What was done, or why nothing was. */
  detail: string;
  /** The kernel's answer to who sets the weights: daxram (these), the kernel (auto), or nobody. */
  weights: Record<string, number>;
  auto?: boolean;
  supported: boolean;
  /** Who set the weights from the bandwidth: daxram (now or earlier), the kernel (auto), or nobody. */
  setBy: 'daxram' | 'kernel' | 'none';
}

/** How far a weight's share may be from the bandwidth's, as a fraction of the fastest node's. */
const TOLERANCE = 0.01;

/**
 * Weights in proportion to bandwidth (MB/s): the smallest whole numbers (the fastest node's at
 * most 100) that keep every node's share within a percent of the fastest node's, each at least 1.
 */
export function weightsFromBandwidth(bw: ReadonlyMap<number, number>): Map<number, number> {
  const max = Math.max(...bw.values());
  const ratio = [...bw].map(([n, b]) => [n, b / max] as const);
  for (let m = 1; ; m++) {
    const w = ratio.map(([n, r]) => [n, Math.max(1, Math.round(r * m))] as const);
    if (m >= 100 || w.every(([, x], i) => Math.abs(x / m - ratio[i][1]) <= TOLERANCE)) return new Map(w);
  }
}

const asRecord = (m: ReadonlyMap<number, number>) => Object.fromEntries([...m].map(([n, w]) => [`node${n}`, w]));

/**
 * Bring the weights to what the managed RAM online on `nodes` says; record before changing
 * anything. Callers hold the lock (engine/index.ts setInterleave).
 */
export function doInterleave(sysfs: Sysfs, stateDir: string, enabled: boolean, nodes: number[]): InterleaveOutcome {
  const now = readInterleaveWeights(sysfs);
  const report = (action: InterleaveOutcome['action'], detail: string, setBy: InterleaveOutcome['setBy'] = 'none'): InterleaveOutcome => ({action, detail, weights: asRecord(readInterleaveWeights(sysfs).weights), auto: now.auto, supported: now.supported, setBy});
  if (!now.supported) return report('none', 'the kernel has no weighted interleave (6.9+)');
  if (now.auto !== undefined) return report('none', `the kernel sets them from the platform's bandwidth (auto = ${now.auto}); daxram leaves them`, now.auto ? 'kernel' : 'none');
  const record = bootRecord<InterleaveRecord>(sysfs, stateDir, INTERLEAVE_RECORD, (r) => (r as InterleaveRecord).version === 1 && typeof (r as InterleaveRecord).before === 'object');
  const {bootId, rec} = record;
  const write = (node: number, w: number) => sysfs.writeAttr(WEIGHTED_INTERLEAVE, 'weighted_interleave', `node${node}`, String(w));
  if (!enabled || nodes.length === 0) {
    if (!rec) return report('none', enabled ? 'no managed RAM online' : 'interleave-weights = off');
    const done: string[] = [];
    for (const [key, w] of Object.entries(rec.before)) {
      const node = Number(key.slice(4));
      if (now.weights.get(node) !== w && now.weights.has(node)) {
        write(node, w);
        done.push(`${key} → ${w}`);
      }
    }
    record.drop();
    return report('restored', done.length ? done.join(', ') : 'already as they were');
  }
  // The DRAM nodes are the yardstick: a weight means something only beside theirs.
  const targets = [...new Set([...readCpuNodes(sysfs), ...nodes])].sort((a, b) => a - b);
  const bw = new Map<number, number>();
  for (const n of targets) {
    const a = readAccess(sysfs, n);
    const b = a && (a.readBandwidth !== undefined && a.writeBandwidth !== undefined ? Math.min(a.readBandwidth, a.writeBandwidth) : a.readBandwidth ?? a.writeBandwidth);
    if (b === undefined) {
      if (nodes.includes(n) || a !== undefined) return report('none', `node${n} has no access bandwidth (no HMAT or CDAT numbers for it): weights left as they are`);
      continue; // a CPU node without memory
    }
    bw.set(n, b);
  }
  const want = weightsFromBandwidth(bw);
  const differs = [...want].filter(([n, w]) => now.weights.get(n) !== w);
  const ratio = [...want].map(([n, w]) => `node${n} ${w} (${bw.get(n)} MB/s)`).join(', ');
  if (differs.length === 0) return report('none', `as the bandwidth says: ${ratio}`, rec ? 'daxram' : 'none');
  const before = {...(rec?.before ?? {})};
  for (const [n] of differs) if (before[`node${n}`] === undefined) before[`node${n}`] = now.weights.get(n) ?? 1;
  record.save({version: 1, bootId, before, at: rec?.at ?? new Date().toISOString()});
  for (const [n, w] of differs) write(n, w);
  return report('applied', ratio, 'daxram');
}

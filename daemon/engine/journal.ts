// The intent journal: before a transition touches the kernel it records what it is about to
// do, fsync'd, and advances the record before every step. A process killed at any point leaves
// a record the next run (CLI or daemon, under the lock) converges from; see recover.ts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {DaxramError} from '../errors';
import {syncDir, writeAtomic} from '../util/atomic';

export type JournalOp = 'clear' | 'online' | 'offline' | 'isolate' | 'reassign' | 'provision' | 'cxl-provision' | 'cxl-release' | 'dax-reassign';
const OPS: readonly string[] = ['clear', 'online', 'offline', 'isolate', 'reassign', 'provision', 'cxl-provision', 'cxl-release', 'dax-reassign'];

export interface JournalEntry {
  version: 1;
  /** online/offline/isolate: one device (journal.json); the rest: a region (layout.json). */
  op: JournalOp;
  /** dax device, or region for layout transitions. */
  device: string;
  pid: number;
  startedAt: string;
  /** Arguments needed to finish the transition the same way. */
  args: {
    zone?: string;
    online?: boolean;
    isolate?: string[];
    zero?: boolean;
    ram?: string;
    force?: boolean;
    ranges?: string[];
    /** isolate: hard_ or soft_offline_page (absent in journals of older versions: hard). */
    how?: string;
    /** auto_online_blocks as it was before daxram held it: given back if the run dies holding it. */
    hotplugPolicy?: string;
    /** Blocks present before the policy was held, and the device's (idRanges): the rest came meanwhile. */
    hotplugBefore?: string;
    /** CXL region transitions: the memdevs, their endpoint decoders, the root decoder, the region size. */
    memdevs?: string[];
    decoders?: string[];
    rootDecoder?: string;
    size?: string;
    /** The operator's verb when one started the transition (intent.ts): recover confirms its decision. */
    action?: string;
  };
  /** Index of the step about to run, and the plan's step count. */
  step: number;
  total: number;
  /** Kernel path of the step about to run, for humans reading the journal. */
  at?: string;
}

/** A transition's record before its first step. */
export function newJournalEntry(op: JournalOp, device: string, args: JournalEntry['args'], total: number): JournalEntry {
  return {version: 1, op, device, pid: process.pid, startedAt: new Date().toISOString(), args, step: 0, total};
}

export const DEVICE_JOURNAL = 'journal.json';
export const LAYOUT_JOURNAL = 'layout.json';

export class Journal {
  constructor(
    readonly dir: string,
    readonly name = DEVICE_JOURNAL,
  ) {}

  get file(): string {
    return path.join(this.dir, this.name);
  }

  read(): JournalEntry | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new DaxramError(`cannot read the intent journal: ${(e as Error).message}`, {path: this.file, cause: e});
    }
    try {
      const j = JSON.parse(text) as JournalEntry;
      if (j.version !== 1 || !OPS.includes(j.op) || typeof j.device !== 'string') throw new Error('unexpected content');
      return j;
    } catch (e) {
      throw new DaxramError(`intent journal is corrupt: ${(e as Error).message}`, {
        path: this.file,
        fix: `inspect and remove ${this.file}, then check every dax device with daxram list`,
      });
    }
  }

  /** Atomically replace the record (temp file, fsync, rename, fsync of the directory). */
  write(entry: JournalEntry): void {
    writeAtomic(this.file, JSON.stringify(entry, null, 2) + '\n');
  }

  clear(): void {
    try {
      fs.unlinkSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    syncDir(this.dir);
  }
}

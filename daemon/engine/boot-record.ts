// What daxram changed in the kernel's own settings and must give back (the tiering switches, the
// interleave weights) is recorded in the state directory before the first write, with the boot
// it belongs to: a record from an earlier boot describes nothing now, since the kernel started
// again from its defaults and sysctl.d, and is dropped.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Context} from './context';
import {writeAtomic} from '../util/atomic';
import {readBootId} from '../model/boot';

/** The door to sysfs the engine is handed (context.ts); reads go through the model's readers. */
type Sysfs = Context['sysfs'];

export interface BootRecord<T> {
  bootId: string;
  /** This boot's record, if there is one (one that cannot be parsed counts as none). */
  rec?: T & {bootId: string};
  save(rec: T & {bootId: string}): void;
  drop(): void;
}

export function bootRecord<T>(sysfs: Sysfs, stateDir: string, name: string, valid: (r: unknown) => boolean): BootRecord<T> {
  const file = path.join(stateDir, name);
  const bootId = readBootId(sysfs);
  const drop = () => fs.rmSync(file, {force: true});
  let rec: (T & {bootId: string}) | undefined;
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as T & {bootId: string};
    rec = valid(r) ? r : undefined;
  } catch {
    rec = undefined;
  }
  if (rec && rec.bootId !== bootId) {
    drop();
    rec = undefined;
  }
  return {bootId, rec, drop, save: (r) => writeAtomic(file, JSON.stringify(r, null, 2) + '\n')};
}

// Which dax devices daxram has checked this boot (scrubbed or read their poison, gated,
// onlined): /run/daxram/checked.json, beside the lock, gone at reboot with /run. A device that
// is System RAM without an entry was onlined by someone else (the kernel's auto-online at boot
// since 6.3, daxctl, a udev rule) before daxram looked: online() then adopts it (reads its
// poison without clearing, isolates what is in use, moves blocks to the zone asked).

import * as fs from 'node:fs';
import * as path from 'node:path';
import {writeAtomic} from '../util/atomic';
import {deviceKey} from '../model/identity';
import type {DaxDevice} from '../model/types';
import type {Context} from './context';

export interface CheckedEntry {
  device: string;
  at: string;
  /** How: "online" (gated before RAM) or "adopted" (found in RAM, poison read and isolated). */
  how: 'online' | 'adopted';
  poison: string;
}

function file(ctx: Context): string {
  return path.join(path.dirname(ctx.lockPath), 'checked.json');
}

export function readChecked(ctx: Context): Record<string, CheckedEntry> {
  try {
    const j = JSON.parse(fs.readFileSync(file(ctx), 'utf8')) as {devices?: Record<string, CheckedEntry>};
    return j.devices ?? {};
  } catch {
    return {};
  }
}

export function isChecked(ctx: Context, dev: DaxDevice): boolean {
  return readChecked(ctx)[deviceKey(dev)] !== undefined;
}

export function markChecked(ctx: Context, dev: DaxDevice, how: CheckedEntry['how'], poison: string): void {
  if (ctx.dryRun) return;
  const all = readChecked(ctx);
  all[deviceKey(dev)] = {device: dev.name, at: new Date().toISOString(), how, poison};
  writeAtomic(file(ctx), JSON.stringify({devices: all}, null, 2) + '\n');
}

/** The device left RAM: its next online is gated from scratch. */
export function forgetChecked(ctx: Context, dev: DaxDevice): void {
  if (ctx.dryRun) return;
  const all = readChecked(ctx);
  const k = deviceKey(dev);
  if (!(k in all)) return;
  delete all[k];
  writeAtomic(file(ctx), JSON.stringify({devices: all}, null, 2) + '\n');
}

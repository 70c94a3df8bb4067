// What a configuration says about one device, whichever file said it (ours in /etc/daxram or
// daxctl's /etc/daxctl.conf.d), and the small readers both formats share.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {ConfigError} from '../errors';
import type {MceRecoveryPolicy, PoisonPolicy, SecurityPolicy, UnscannedPolicy, MemmapPolicy} from '../policy/settings';
import {iniError, type IniEntry} from './ini';

export type DeviceMode = 'ram' | 'devdax' | 'reserved';
export type Zone = 'movable' | 'normal';

export interface DeviceMatch {
  /** Namespace uuid (lower case). */
  uuid?: string;
  /** dax region id, X in daxX.Y (hmem, CXL). */
  daxRegion?: number;
  /** Physical start of the device's first range, with daxRegion. */
  resource?: bigint;
  /** Kernel name; not stable across reboots. */
  dax?: string;
}

/**
 * Policy gates for one device, named as the engine's Policy names them (policy/settings.ts).
 * Unset means the engine's safe default.
 */
export interface Gates {
  /** Poison left after the scrub: refuse the device, or online it and hard-offline those pages. */
  poison?: PoisonPolicy;
  /** CPU machine-check recovery (MCG_CAP.SER_P) unknown or absent. */
  mceRecovery?: MceRecoveryPolicy;
  /** DIMM security (encryption at rest) not enabled. */
  security?: SecurityPolicy;
  /** Memory that cannot be scanned for poison (hmem, e820, a bus without ARS). */
  unscanned?: UnscannedPolicy;
  /** Struct pages on the device (where the kernel allows) or in DRAM. */
  memmap?: MemmapPolicy;
}

export const DEFAULT_GATES: Gates = {};

export interface Source {
  file: string;
  line: number;
  origin: 'daxram' | 'daxctl';
}

export interface DeviceRule {
  /** Section name: [device NAME]. */
  label: string;
  match: DeviceMatch;
  mode: DeviceMode;
  zone: Zone;
  /** For ram: online the blocks (daxctl's online=false binds kmem but leaves them offline). */
  online: boolean;
  /** Expected target node; a device on another node is refused rather than guessed at. */
  node?: number;
  gates: Gates;
  source: Source;
}

/** Files of one config directory in the order they apply: the main file, then conf.d sorted. */
export function configFiles(etcDir: string): string[] {
  const files: string[] = [];
  const main = path.join(etcDir, 'daxram.conf');
  if (fs.existsSync(main)) files.push(main);
  files.push(...confFilesIn(path.join(etcDir, 'conf.d')));
  return files;
}

export function confFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`cannot list ${dir}: ${(e as Error).message}`, {path: dir, cause: e});
  }
  return names
    .filter((n) => n.endsWith('.conf') && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n));
}

export function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`, {path: file, cause: e});
  }
}

/** A rule before its keys are read: RAM, movable, onlined, default gates. */
export function newRule(label: string, file: string, line: number, origin: 'daxram' | 'daxctl'): DeviceRule {
  return {label, match: {}, mode: 'ram', zone: 'movable', online: true, gates: {...DEFAULT_GATES}, source: {file, line, origin}};
}

export function bool(e: IniEntry, file: string): boolean {
  const v = e.value.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw iniError(file, e.line, `${e.key} = "${e.value}" is not a boolean`, 'write true or false');
}

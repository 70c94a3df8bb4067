// What a configuration says about one device, whichever file said it (ours in /etc/daxram or
// daxctl's /etc/daxctl.conf.d), and the small readers both formats share.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {ConfigError} from '../errors';
import type {GateSettings} from '../policy/settings';
import {iniError, type IniEntry} from './ini';

export type DeviceMode = 'ram' | 'devdax' | 'reserved';
export type Zone = 'movable' | 'normal';

import type {DeviceMatch} from '../model/identity';
export type {DeviceMatch};

/**
 * Policy gates for one device, named as the engine's Policy names them (policy/settings.ts).
 * Unset means the engine's safe default.
 */
export type Gates = GateSettings;

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

/**
 * Files of one config directory in the order they apply: the main file, then conf.d sorted.
 * Only a main file that does not exist is "no configuration": one that is there but cannot be
 * read (a dangling or looping symlink half-way through a deploy, a broken mount, EACCES) is an
 * error, or its reservations would silently vanish.
 */
export function configFiles(etcDir: string): string[] {
  const files: string[] = [];
  const main = path.join(etcDir, 'daxram.conf');
  if (present(main)) files.push(main);
  files.push(...confFilesIn(path.join(etcDir, 'conf.d')));
  return files;
}

/** false only when `p` itself does not exist (lstat ENOENT); anything else unreadable throws. */
function present(p: string): boolean {
  try {
    fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw unreadable(p, e);
  }
  return true;
}

function unreadable(p: string, e: unknown): ConfigError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'it is a symlink to nothing' : code === 'ELOOP' ? 'it is a symlink loop' : (e as Error).message;
  return new ConfigError(`cannot read ${p}: ${why}`, {path: p, fix: `restore ${p} (or remove it to mean "no configuration"); until then the last good configuration stays in force`, cause: e});
}

export function confFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !present(dir)) return [];
    throw unreadable(dir, e);
  }
  return names
    .filter((n) => n.endsWith('.conf') && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n));
}

const UTF8 = new TextDecoder('utf-8', {fatal: true});

/** A configuration file's text: it must be UTF-8 (a replaced byte in a name would match nothing). */
export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new ConfigError(`${file}:${firstBadLine(bytes)}: not UTF-8`, {path: file, fix: 'save the file as UTF-8'});
  }
}

/** The first line (1-based) that is not UTF-8: lines decoded one by one, linear in the file. */
function firstBadLine(b: Buffer): number {
  let line = 1;
  for (let start = 0; start < b.length; line++) {
    const nl = b.indexOf(0x0a, start);
    const end = nl < 0 ? b.length : nl;
    try {
      UTF8.decode(b.subarray(start, end));
    } catch {
      return line;
    }
    start = end + 1;
  }
  return line;
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

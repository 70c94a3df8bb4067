// The reservations an operator wrote into daxramd's configuration ([device …] mode = reserved)
// bind the CLI too: a device kept as devdax for a crash-surviving trace buffer must not become
// RAM, or be destroyed by reassign, because someone typed its name.
//
// And a reservation outlives the text that made it: every reservation a configuration ever
// held is remembered in the state directory (reservations.json), and one the configuration no
// longer holds (a file deleted by a deploy, a rule edited away) stays in force, reported as
// retired, until the operator confirms with `daxram forget`. What protects memory never
// disappears because something around it changed or broke.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {ConfigError, UsageError} from '../errors';
import {writeAtomic} from '../util/atomic';
import {configFiles, matchKey, parseConfig, readText, sameDevice, DEFAULT_PATHS, type DeviceMatch, type DeviceRule} from './config';
import {listDax, readDax} from '../model/dax';
import {deviceUuids, matchStrength} from '../model/identity';
import type {Policy} from '../policy/settings';

export const RESERVATIONS_FILE = 'reservations.json';
const VERSION = 1;

/** A reservation as remembered: the rule's match as written, where it was, since when. */
export interface HeldReservation {
  key: string;
  match: {uuid?: string; daxRegion?: number; resource?: string; dax?: string};
  /** "/etc/daxram/daxram.conf:12 [device trace]" */
  source: string;
  since: string;
  /** When the configuration stopped saying so; still enforced until `daxram forget`. */
  retiredAt?: string;
}

const toStored = (m: DeviceMatch): HeldReservation['match'] => ({
  uuid: m.uuid, daxRegion: m.daxRegion, resource: m.resource === undefined ? undefined : `0x${m.resource.toString(16)}`, dax: m.dax,
});
const fromStored = (m: HeldReservation['match']): DeviceMatch => ({
  uuid: m.uuid, daxRegion: m.daxRegion, resource: m.resource === undefined ? undefined : BigInt(m.resource), dax: m.dax,
});
const sourceOf = (r: DeviceRule) => `${r.source.file}:${r.source.line} [device ${r.label}]`;

/** The remembered reservations. Unreadable or corrupt is an error: nothing moves while they are unknown. */
export function heldReservations(stateDir: string): HeldReservation[] {
  const file = path.join(stateDir, RESERVATIONS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}; the reservations it holds cannot be honoured, so nothing is changed`, {path: file, cause: e});
  }
  try {
    const j = JSON.parse(text) as {version?: unknown; reservations?: unknown};
    if (j.version !== VERSION || !Array.isArray(j.reservations)) throw new Error(`not a version ${VERSION} reservations file`);
    for (const r of j.reservations as HeldReservation[]) {
      if (typeof r?.key !== 'string' || typeof r.source !== 'string' || typeof r.match !== 'object' || r.match === null) throw new Error('an entry without key, match or source');
      if (r.match.resource !== undefined && !/^0x[0-9a-f]{1,16}$/.test(r.match.resource)) throw new Error(`resource ${String(r.match.resource)}`);
    }
    return j.reservations as HeldReservation[];
  } catch (e) {
    throw new ConfigError(`${file} is corrupt (${(e as Error).message}); the reservations it holds cannot be honoured, so nothing is changed`, {
      path: file,
      fix: `restore it from a backup, or move it away once every device it reserved is accounted for (daxram list)`,
      cause: e,
    });
  }
}

function saveHeld(stateDir: string, held: HeldReservation[]): void {
  writeAtomic(path.join(stateDir, RESERVATIONS_FILE), JSON.stringify({version: VERSION, reservations: held}, null, 2) + '\n');
}

/**
 * Remember the reserved rules of a configuration that loaded, and retire (never drop) the ones
 * it no longer holds. Returns the remembered set; writes only when it changed.
 */
export function rememberReservations(stateDir: string, rules: readonly DeviceRule[], now = new Date(), save = true): HeldReservation[] {
  const held = heldReservations(stateDir);
  let changed = false;
  const reserved = rules.filter((r) => r.mode === 'reserved');
  for (const r of reserved) {
    const h = held.find((x) => sameDevice(fromStored(x.match), r.match));
    if (!h) {
      held.push({key: matchKey(r.match), match: toStored(r.match), source: sourceOf(r), since: now.toISOString()});
      changed = true;
    } else if (h.retiredAt !== undefined || h.source !== sourceOf(r)) {
      delete h.retiredAt;
      h.source = sourceOf(r);
      changed = true;
    }
  }
  for (const h of held) {
    if (h.retiredAt === undefined && !reserved.some((r) => sameDevice(fromStored(h.match), r.match))) {
      h.retiredAt = now.toISOString();
      changed = true;
    }
  }
  if (changed && save) saveHeld(stateDir, held);
  return held;
}

/**
 * The operator confirms a retired reservation may go: by its key or by the device it holds.
 * One the configuration still holds is refused (remove it there first). With `rules` (the
 * configuration as it is now; daxramd passes none, its own is current), a rule removed since
 * the last command retires first, so forget right after the edit works.
 */
export function forgetReservation(stateDir: string, sysfs: Sysfs, what: string, rules?: readonly DeviceRule[]): HeldReservation | undefined {
  const held = rules ? rememberReservations(stateDir, rules) : heldReservations(stateDir);
  // A device is named by its kernel name and by its uuids, as reservations name it.
  const names = new Set([what.toLowerCase()]);
  if (listDax(sysfs).includes(what)) for (const u of deviceUuids(readDax(sysfs, what, {blockSize: 0n}))) names.add(u.toLowerCase());
  const h = held.find((x) => x.key === what || entriesOf(sysfs, fromStored(x.match)).some((e) => names.has(e.toLowerCase())));
  if (!h) return undefined;
  if (h.retiredAt === undefined) {
    throw new UsageError(`${what} is reserved by ${h.source}`, {device: what, fix: `change or remove the rule in ${h.source.split(' ')[0]} first; then daxram forget ${what} releases it`});
  }
  saveHeld(stateDir, held.filter((x) => x !== h));
  return h;
}

/**
 * Add the configuration's reserved rules to `policy`: uuids and kernel names as they are,
 * region+resource rules resolved to the live device they match. A configuration that does not
 * parse is an error: nothing that moves memory runs while the reservations are unknown. With
 * `stateDir`, the remembered ones are updated (unless `dryRun`) and the retired ones added.
 */
export function withConfigReservations(policy: Policy, sysfs: Sysfs, etcDir = DEFAULT_PATHS.etcDir, held?: {stateDir: string; dryRun?: boolean}): Policy {
  const rules = configDeviceRules(etcDir);
  // A dry run retires what the real run would, without writing: it must refuse what the run would.
  const remembered = held ? rememberReservations(held.stateDir, rules, new Date(), !held.dryRun) : [];
  return addReservations(policy, rules, sysfs, remembered);
}

/** The device rules of the configuration under `etcDir`; one that does not parse is an error (reservations unknown). */
export function configDeviceRules(etcDir = DEFAULT_PATHS.etcDir): DeviceRule[] {
  try {
    return parseConfig(configFiles(etcDir).map((f) => ({file: f, text: readText(f)}))).devices;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(`${e.message}; its reservations cannot be honoured, so nothing is changed`, {
      path: e.path ?? etcDir,
      fix: `fix the configuration (daxram config check --config-dir ${etcDir}), then run this again`,
      cause: e,
    });
  }
}

/** Add the reserved rules of an already parsed configuration (daxramd's own), and the retired ones remembered. */
export function addReservations(policy: Policy, rules: readonly DeviceRule[], sysfs: Sysfs, held: readonly HeldReservation[] = []): Policy {
  const reserved = [...policy.reserved];
  const reservedBy = {...policy.reservedBy};
  const add = (entries: string[], from: string) => {
    for (const entry of entries) {
      reserved.push(entry);
      reservedBy[entry] = from;
    }
  };
  for (const r of rules.filter((x) => x.mode === 'reserved')) add(entriesOf(sysfs, r.match), sourceOf(r));
  for (const h of held.filter((x) => x.retiredAt !== undefined)) {
    add(entriesOf(sysfs, fromStored(h.match)), `${h.source}, no longer in the configuration since ${h.retiredAt} (daxram forget ${h.key} releases it)`);
  }
  return {...policy, reserved, reservedBy};
}

function entriesOf(sysfs: Sysfs, m: DeviceMatch): string[] {
  if (m.uuid) return [m.uuid];
  if (m.resource !== undefined) {
    // A device without a namespace is reserved by where it is: the live device there now.
    return listDax(sysfs).filter((d) => matchStrength(m, readDax(sysfs, d, {blockSize: 0n})) === 'resource');
  }
  return m.dax ? [m.dax] : [];
}

// The reservations an operator wrote into daxramd's configuration ([device …] mode = reserved)
// bind the CLI too: a device kept as devdax for a crash-surviving trace buffer must not become
// RAM, or be destroyed by reassign, because someone typed its name.

import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {ConfigError} from '../errors';
import {configFiles, parseConfig, readText, DEFAULT_PATHS, type DeviceRule} from './config';
import {listDax, readDax} from '../model/dax';
import type {Policy} from '../policy/settings';


/**
 * Add the configuration's reserved rules to `policy`: uuids and kernel names as they are,
 * region+resource rules resolved to the live device they match. A configuration that does not
 * parse is an error: nothing that moves memory runs while the reservations are unknown.
 */
export function withConfigReservations(policy: Policy, sysfs: Sysfs, etcDir = DEFAULT_PATHS.etcDir): Policy {
  let rules: DeviceRule[];
  try {
    rules = parseConfig(configFiles(etcDir).map((f) => ({file: f, text: readText(f)}))).devices;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(`${e.message}; its reservations cannot be honoured, so nothing is changed`, {
      path: e.path ?? etcDir,
      fix: `fix the configuration (daxram config check --config-dir ${etcDir}), then run this again`,
      cause: e,
    });
  }
  return addReservations(policy, rules, sysfs);
}

/** Add the reserved rules of an already parsed configuration (daxramd's own). */
export function addReservations(policy: Policy, rules: readonly DeviceRule[], sysfs: Sysfs): Policy {
  const reserved = [...policy.reserved];
  const reservedBy = {...policy.reservedBy};
  for (const r of rules.filter((x) => x.mode === 'reserved')) {
    const from = `${r.source.file}:${r.source.line} [device ${r.label}]`;
    for (const entry of entriesOf(sysfs, r)) {
      reserved.push(entry);
      reservedBy[entry] = from;
    }
  }
  return {...policy, reserved, reservedBy};
}

function entriesOf(sysfs: Sysfs, r: DeviceRule): string[] {
  if (r.match.uuid) return [r.match.uuid];
  if (r.match.resource !== undefined) {
    // A device without a namespace is reserved by where it is: the live device there now.
    return listDax(sysfs).filter((d) => {
      if (r.match.daxRegion !== undefined && !d.startsWith(`dax${r.match.daxRegion}.`)) return false;
      return readDax(sysfs, d, {blockSize: 0n}).ranges[0]?.start === r.match.resource;
    });
  }
  return r.match.dax ? [r.match.dax] : [];
}

/** The configuration directory for a CLI run: under --root for fixture trees. */
export function etcDirFor(root: string | undefined): string {
  return !root || root === '/' ? DEFAULT_PATHS.etcDir : path.join(root, DEFAULT_PATHS.etcDir);
}

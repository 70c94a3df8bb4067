// The desired-state store: what the operator asked for from the CLI (online, offline, reassign,
// provision, release), kept in /var/lib/daxram/desired.json so the daemon never undoes an operator's
// decision, across daemon restarts and reboots. An operator record wins over the config file
// until the operator forgets it (`daxram forget DEVICE`, or a new CLI action replaces it).
//
// Writes are atomic (temp file, fsync, rename, fsync of the directory): a crash leaves the old
// or the new file, never half of one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {ConfigError} from '../errors';
import {writeAtomic} from '../util/atomic';
import type {DeviceMode, Zone} from './config';
import {keyKind} from '../model/identity';

export const STATE_FILE = 'desired.json';
const VERSION = 1;

export interface OperatorRecord {
  /**
   * Stable device key: uuid:<namespace uuid> or res:<dax region>:<0xstart> (config.deviceKey);
   * or region:<regionN> for a whole region the operator laid out (reassign, provision).
   */
  key: string;
  /** Kernel name when recorded, for humans (it can change across reboots; the key cannot). */
  device: string;
  mode: DeviceMode;
  zone?: Zone;
  /** For ram: blocks online (false = kmem bound, blocks left offline). */
  online?: boolean;
  /**
   * A CXL region the operator provisioned (key cxl:<serial>,<serial>…): its memdevs by serial
   * number, in interleave position order, and its size in bytes (decimal). Nothing programs
   * the decoders again after a power cycle but daxramd, from this record.
   */
  memdevs?: string[];
  size?: string;
  /**
   * The System RAM part of a split, in bytes (decimal): a soft-reserved range the operator split
   * with `daxram reassign hmem.N` (key hmem:<0xstart>, `size` the range's), or a CXL region
   * split with `daxram reassign regionN` (absent: all of it). A reboot gives the range back as
   * one device, and the CXL region not at all; daxramd lays both out again from this record.
   */
  ram?: string;
  /** CLI verb that produced this record. */
  action: string;
  /** ISO time. */
  at: string;
}

export interface DesiredState {
  version: number;
  records: OperatorRecord[];
}

export class StateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, STATE_FILE);
  }

  /** Current records; an absent file is an empty store. A corrupt file is an error naming it. */
  load(): DesiredState {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {version: VERSION, records: []};
      throw new ConfigError(`cannot read ${this.file}: ${(e as Error).message}`, {path: this.file, cause: e});
    }
    return parseState(text, this.file);
  }

  get(key: string): OperatorRecord | undefined {
    return this.load().records.find((r) => r.key === key);
  }

  /** Add or replace records (by key) in one atomic write. */
  record(recs: OperatorRecord[]): void {
    const st = this.load();
    for (const r of recs) {
      validateRecord(r, this.file);
      const i = st.records.findIndex((x) => x.key === r.key);
      if (i >= 0) st.records[i] = r;
      else st.records.push(r);
    }
    this.save(st);
  }

  /** Drop the record for a key (or for a kernel name); true when one was removed. */
  forget(keyOrDevice: string): boolean {
    const st = this.load();
    const n = st.records.length;
    st.records = st.records.filter((r) => r.key !== keyOrDevice && r.device !== keyOrDevice);
    if (st.records.length === n) return false;
    this.save(st);
    return true;
  }

  private save(st: DesiredState): void {
    writeAtomic(this.file, JSON.stringify({version: VERSION, records: st.records}, null, 2) + '\n');
  }
}

export function parseState(text: string, file: string): DesiredState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`, {path: file, fix: `move ${file} aside; the daemon then follows the config file only`});
  }
  const o = raw as {version?: unknown; records?: unknown};
  if (typeof o !== 'object' || o === null || o.version !== VERSION || !Array.isArray(o.records)) {
    throw new ConfigError(`${file}: not a version ${VERSION} desired-state file`, {path: file, fix: `move ${file} aside; the daemon then follows the config file only`});
  }
  for (const r of o.records) validateRecord(r as OperatorRecord, file);
  return {version: VERSION, records: o.records as OperatorRecord[]};
}

/** A byte count as records keep it: decimal text, not zero. */
const bytes = (v: unknown): boolean => typeof v === 'string' && /^[1-9][0-9]{0,19}$/.test(v);

function validateRecord(r: OperatorRecord, file: string): void {
  const ok =
    typeof r === 'object' &&
    r !== null &&
    typeof r.key === 'string' &&
    /^(uuid|res|dax|region|cxl|hmem):/.test(r.key) &&
    (keyKind(r.key) !== 'cxl' || (Array.isArray(r.memdevs) && r.memdevs.length > 0 && r.memdevs.every((m) => typeof m === 'string' && /^0x[0-9a-f]{1,16}$/.test(m)) && bytes(r.size) && (r.ram === undefined || r.ram === '0' || bytes(r.ram)))) &&
    (keyKind(r.key) !== 'hmem' || (/^hmem:0x[0-9a-f]{1,16}$/.test(r.key) && bytes(r.size) && (r.ram === '0' || bytes(r.ram)))) &&
    typeof r.device === 'string' &&
    ['ram', 'devdax', 'reserved'].includes(r.mode) &&
    (r.zone === undefined || r.zone === 'movable' || r.zone === 'normal') &&
    (r.online === undefined || typeof r.online === 'boolean') &&
    typeof r.action === 'string' &&
    typeof r.at === 'string';
  if (!ok) throw new ConfigError(`${file}: invalid record ${JSON.stringify(r)}`, {path: file});
}

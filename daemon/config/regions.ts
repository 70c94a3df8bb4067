// `[region NAME]`: capacity the operator declares in the config file, made at boot by daxramd
// as `daxram provision` and `daxram reassign` would make it. Nothing programs OS-managed CXL
// decoders again after a power cycle, and the firmware gives a soft-reserved range back as one
// device, so a box that should boot into a layout says so here, beside its [device] rules:
//   a CXL region: `memdevs =` the serial numbers of its memdevs (what a reboot does not
//     renumber), `size =` how much of them (default all they have free in common);
//   a soft-reserved (hmem) range: `range =` its start address;
// and for either: `ram =` how much becomes System RAM from the start (default all; 0: none), the
// rest one devdax device; `zone =` and `online =` as for [device].

import {cxlRegionKey, hmemRangeKey} from '../model/identity';
import {parseSize} from '../util/size';
import {headerOf, iniError, type IniSection} from './ini';
import {bool, type Source, type Zone} from './rules';

export interface RegionRule {
  /** Section name: [region NAME]. */
  label: string;
  /** The record key the region has (model/identity.ts): an operator record of it wins. */
  key: string;
  /** A CXL region: its memdevs' serial numbers. */
  memdevs?: bigint[];
  /** A soft-reserved range: its start. */
  range?: bigint;
  /** CXL: the region's size in bytes; undefined = all the memdevs have free in common. */
  size?: bigint;
  /** The System RAM part from the start; undefined = all of it. */
  ram?: bigint;
  zone: Zone;
  online: boolean;
  source: Source;
}

const SERIAL_RE = /^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/;
const MAX_U64 = (1n << 64n) - 1n;
/** The CXL spec's largest interleave: more memdevs cannot make one region. */
const MAX_WAYS = 16;

export function regionRule(s: IniSection, file: string): RegionRule {
  if (!s.name || /\s/.test(s.name)) throw iniError(file, s.line, `[region] needs one NAME without spaces`, 'write e.g. [region expander]');
  const rule: Omit<RegionRule, 'key'> & {key?: string} = {label: s.name, zone: 'movable', online: true, source: {file, line: s.line, origin: 'daxram'}};
  for (const e of s.entries) {
    switch (e.key) {
      case 'memdevs': {
        const parts = e.value.split(',').map((x) => x.trim());
        if (parts.some((p) => !SERIAL_RE.test(p) || BigInt(p) > MAX_U64)) {
          throw iniError(file, e.line, `memdevs = "${e.value}" is not a list of memdev serial numbers`, 'copy each memdev\'s "serial" from `cxl list -M` (decimal) or /sys/bus/cxl/devices/memN/serial (0x…), comma-separated');
        }
        const serials = parts.map((p) => BigInt(p));
        if (new Set(serials).size !== serials.length) throw iniError(file, e.line, `memdevs = "${e.value}" names a memdev twice`);
        if (serials.length > MAX_WAYS) throw iniError(file, e.line, `memdevs = names ${serials.length} memdevs; a CXL region interleaves at most ${MAX_WAYS}`);
        rule.memdevs = serials;
        break;
      }
      case 'range':
        if (!/^0x[0-9a-fA-F]{1,16}$/.test(e.value)) throw iniError(file, e.line, `range "${e.value}" is not a 0x-prefixed physical address`, 'copy the start of the "Soft Reserved" range from /proc/iomem, or the start `daxram list` shows for hmem.N');
        rule.range = BigInt(e.value);
        break;
      case 'size':
        rule.size = e.value === 'all' ? undefined : sizeOf(e.value, e.key, file, e.line);
        break;
      case 'ram':
        rule.ram = e.value === 'all' ? undefined : e.value === '0' ? 0n : sizeOf(e.value, e.key, file, e.line);
        break;
      case 'zone': {
        const v = e.value.toLowerCase();
        if (v !== 'movable' && v !== 'normal') throw iniError(file, e.line, `zone = "${e.value}" is not one of movable, normal`);
        rule.zone = v;
        break;
      }
      case 'online':
        rule.online = bool(e, file);
        break;
      default:
        throw iniError(file, e.line, `unknown key "${e.key}" in [${headerOf(s)}]`, 'known keys: memdevs, range, size, ram, zone, online');
    }
  }
  const has = (k: keyof RegionRule) => s.entries.some((e) => e.key === k);
  if (rule.memdevs && rule.range !== undefined) throw iniError(file, s.line, `[${headerOf(s)}] has memdevs = and range =; pick one`, 'memdevs = for a CXL region, range = for a soft-reserved range');
  if (rule.memdevs) {
    rule.key = cxlRegionKey(rule.memdevs);
  } else if (rule.range !== undefined) {
    if (has('size')) throw iniError(file, s.line, `[${headerOf(s)}]: size = is for CXL regions; a soft-reserved range is as large as the firmware made it`, 'remove size =');
    rule.key = hmemRangeKey(rule.range);
  } else {
    throw iniError(file, s.line, `[${headerOf(s)}] says nothing about which capacity it is`, 'add memdevs = (CXL memdev serial numbers) or range = (the start of a soft-reserved range)');
  }
  if (rule.size !== undefined && rule.ram !== undefined && rule.ram > rule.size) {
    throw iniError(file, s.line, `[${headerOf(s)}]: ram = is larger than size =`, 'ram = is the System RAM part of the region; the rest is devdax');
  }
  return rule as RegionRule;
}

function sizeOf(v: string, key: string, file: string, line: number): bigint {
  let n: bigint;
  try {
    n = parseSize(v, key);
  } catch {
    throw iniError(file, line, `${key} = "${v}" is not a size`, `write e.g. ${key} = 512M, 4G or all`);
  }
  if (n === 0n) throw iniError(file, line, `${key} = 0 is no capacity`, key === 'size' ? 'remove the section, or write size = all' : 'write ram = 0 only for an all-devdax region');
  return n;
}

/** Plain-data form for --json. */
export function regionToJson(r: RegionRule): unknown {
  const hexOf = (v?: bigint) => (v === undefined ? undefined : '0x' + v.toString(16));
  return {...r, memdevs: r.memdevs?.map((m) => hexOf(m)), range: hexOf(r.range), size: r.size?.toString() ?? 'all', ram: r.ram?.toString() ?? 'all'};
}

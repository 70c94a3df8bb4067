// daxram list: what device-dax capacity there is, where it comes from (bus, region, namespace)
// and what kmem would make of it. Read-only: filtering, the table, the facts beside the scan
// (tiers, zones, CXL poison); the JSON shapes are cli/list-json.ts.

import type {Argv, CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {Sysfs} from '../../sysfs';
import {readTiering} from '../../model/tiers';
import {readInterleaveWeights} from '../../model/mempolicy';
import {readNodeZones, type NodeZones} from '../../model/node';
import {ratioText, zoneTotals} from '../../policy/zone-balance';
import {DEFAULT_POLICY} from '../../policy/settings';
import {memmapReport, type MemmapReport} from '../../model/memmap';
import {NotFoundError, UsageError} from '../../errors';
import {memblockSummary, scanPlatform} from '../../model/scan';
import type {Bus, DaxDevice, Platform, Region} from '../../model/types';
import type {CxlTopology} from '../../model/cxl/types';
import {busJson, cxlJson, deviceBadblocks, deviceJson, dimmJson, nodeTier, regionJson, type ListFacts} from '../list-json';
import {GlobalArgs, printJson} from '../output';
import {humanSize} from '../../util/size';
import {clip} from '../../util/ranges';
import {poisonInRegion, readCxlPoison, type CxlPoisonRecord} from '../../scrub/cxl';
import {mountPseudoFs} from '../../mounts';

interface ListArgs extends GlobalArgs {
  cxl?: boolean;
  device?: string[];
  region?: string[];
  bus?: string[];
  node?: number[];
  regions?: boolean;
  buses?: boolean;
  dimms?: boolean;
  tiers?: boolean;
  'media-errors'?: boolean;
}

const asList = (v: unknown): string[] | undefined =>
  v === undefined ? undefined : (Array.isArray(v) ? v : [v]).flatMap((x) => String(x).split(',')).filter((x) => x !== '');

/** dax0.0, /dev/dax0.0 → dax0.0 */
const devName = (s: string) => s.replace(/^\/dev\//, '');
/** region0, 0 → region0; ndbus1, 1 → ndbus1 */
const named = (prefix: string, s: string) => (/^\d+$/.test(s) ? `${prefix}${s}` : s);

export function regionMatches(r: Region | undefined, wanted: string[]): boolean {
  return r !== undefined && wanted.some((w) => named('region', w) === r.name);
}

export function busMatches(b: Bus | undefined, wanted: string[]): boolean {
  return b !== undefined && wanted.some((w) => named('ndbus', w) === b.name || w === b.provider);
}

export function filterDevices(p: Platform, a: {device?: string[]; region?: string[]; bus?: string[]; node?: number[]}): DaxDevice[] {
  let devs = p.devices;
  if (a.device) {
    const want = a.device.map(devName);
    for (const w of want) {
      if (!devs.some((d) => d.name === w)) {
        throw new NotFoundError(`no dax device ${w}`, {device: w, fix: 'run `daxram list` to see the dax devices there are'});
      }
    }
    devs = devs.filter((d) => want.includes(d.name));
  }
  if (a.region) devs = devs.filter((d) => regionMatches(d.region, a.region!));
  if (a.bus) devs = devs.filter((d) => busMatches(d.bus, a.bus!));
  if (a.node) devs = devs.filter((d) => a.node!.includes(d.targetNode));
  return devs;
}

/**
 * What one list run read besides the platform scan: the memory tiers, and the CXL memdevs'
 * poison lists, read only with --media-errors (asking a memdev for its list is a command to the
 * device, trigger_poison_list; list otherwise changes nothing anywhere).
 */
function pad(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n') + '\n';
}

/** Where a device comes from, in one table cell. */
export function originText(d: DaxDevice): string {
  switch (d.origin.kind) {
    case 'nvdimm':
      return d.namespace ? `${d.namespace.name} ${d.region!.name} ${d.bus!.provider}` : `${d.region?.name ?? '?'} ${d.bus?.provider ?? ''}`;
    case 'e820':
      return `${d.namespace?.name ?? '?'} ${d.region?.name ?? '?'} e820 (legacy pmem, memmap=)`;
    case 'hmem':
      return `${d.provider} soft-reserved${d.iomem ? ` 0x${d.iomem.start.toString(16)}-0x${d.iomem.end.toString(16)} (${d.iomem.name})` : ''}`;
    case 'cxl': {
      const r = d.cxl;
      return r ? `CXL ${r.name} ${r.rootDecoder} ${r.memdevs.join(',')} x${r.interleaveWays} ${r.hostBridges.join(',')} ${r.decodeState}` : `CXL ${d.origin.region ?? '?'}`;
    }
    default:
      return d.provider ?? '-';
  }
}

function human(p: Platform, devs: DaxDevice[], a: ListArgs, f: ListFacts, memmap?: MemmapReport): string {
  let out = '';
  if (devs.length === 0) {
    out += 'no device-dax devices' + (a.device || a.region || a.bus || a.node ? ' match' : '') + '\n';
  } else {
    const rows = [['DEVICE', 'MODE', 'SIZE', 'KMEM', 'NODE', 'TIER', 'BLOCKS', 'ZONE', 'POISON', 'ORIGIN']];
    for (const d of devs) {
      const s = memblockSummary(d);
      const mode = d.mode === 'system-ram' ? 'system-ram' : d.mode;
      const blocks = d.mode === 'system-ram' ? `${s.online}/${s.total}` : `-/${d.kmemBlocks}`;
      const zone = s.movable === undefined ? '-' : s.movable ? 'movable' : 'kernel';
      const origin = originText(d);
      rows.push([d.name, mode, humanSize(d.size), humanSize(d.kmemCapacity), d.targetNode < 0 ? '-' : String(d.targetNode), String(nodeTier(f, d.targetNode) ?? '-'), blocks, zone, String(deviceBadblocks(d, f) ?? '-'), origin]);
    }
    out += pad(rows);
  }
  const h = p.hotplug;
  out += `memory block ${h.blockSize > 0n ? humanSize(h.blockSize) : 'n/a'}, auto_online_blocks ${h.autoOnlineBlocks}` + (h.onlinePolicy ? `, online_policy ${h.onlinePolicy}` : '') + '\n';
  const tiering = f.tiering;
  if (tiering?.tiers.length) {
    const sw = [tiering.demotion === undefined ? undefined : `demotion ${tiering.demotion ? 'on' : 'off'}`, tiering.promotion === undefined ? undefined : `promotion ${tiering.promotion ? 'on' : 'off'} (kernel.numa_balancing ${tiering.numaBalancing})`].filter(Boolean);
    out += `memory tiers: ${tiering.tiers.map((t) => `${t.id} (node${t.nodes.length > 1 ? 's' : ''} ${t.nodes.join(',')})`).join(', ')}${sw.length ? `; ${sw.join(', ')}` : ''}\n`;
  }
  const iw = f.interleave;
  if (iw?.supported) out += `interleave weights: ${[...iw.weights].map(([n, w]) => `node${n} ${w}`).join(', ') || 'none'}${iw.auto === undefined ? '' : iw.auto ? ' (the kernel sets them: auto)' : ' (auto off)'}\n`;
  if (f.zones?.length) out += zonesLine(f.zones) + '\n';
  if (memmap && memmap.devices.length) out += `${memmap.summary}\n`;
  if (a.buses) {
    out += '\n' + pad([['BUS', 'PROVIDER', 'SCRUB', 'COMMANDS'], ...p.buses.map((b) => [b.name, b.provider, b.scrub ? (b.scrub.running ? 'active' : 'idle') : '-', b.commands.join(',') || '-'])]);
  }
  if (a.regions) {
    const rs = selectRegions(p, a);
    if (rs.length) out += '\n' + pad([['REGION', 'BUS', 'START', 'SIZE', 'NODE', 'BADBLOCKS', 'DIMMS'], ...rs.map((r) => [r.name, r.bus.provider, '0x' + r.resource.toString(16), humanSize(r.size), String(r.targetNode), String(r.badblocks.length), r.dimms.map((d) => d.name).join(',')])]);
  }
  if (a.dimms) {
    if (p.dimms.length) out += '\n' + pad([['DIMM', 'BUS', 'SECURITY', 'FLAGS'], ...p.dimms.map((d) => [d.name, d.bus.provider, d.security, d.flags.join(',') || '-'])]);
  }
  if (a.cxl && p.cxl) {
    const c = p.cxl;
    if (c.memdevs.length) out += '\n' + pad([['MEMDEV', 'SERIAL', 'HOST', 'RAM', 'PMEM', 'ENDPOINT', 'POISON-LIST'], ...c.memdevs.map((m) => [m.name, m.serial === undefined ? '-' : `0x${m.serial.toString(16)}`, m.host, humanSize(m.ramSize), humanSize(m.pmemSize), m.endpoint ?? '-', m.poisonList ? 'yes' : 'no'])]);
    if (c.regions.length) out += '\n' + pad([['CXL-REGION', 'ROOT', 'MODE', 'START', 'SIZE', 'WAYS', 'GRAN', 'STATE', 'MEMDEVS'], ...c.regions.map((r) => [r.name, r.rootDecoder, r.mode, '0x' + r.resource.toString(16), humanSize(r.size), String(r.interleaveWays), String(r.interleaveGranularity), r.decodeState, r.memdevs.join(',') || '-'])]);
  }
  return out;
}

function selectRegions(p: Platform, a: ListArgs): Region[] {
  let rs = p.regions;
  if (a.region) rs = rs.filter((r) => regionMatches(r, a.region!));
  if (a.bus) rs = rs.filter((r) => busMatches(r.bus, a.bus!));
  if (a.node) rs = rs.filter((r) => a.node!.includes(r.targetNode));
  return rs;
}

/** Movable:Kernel in total and per node with memory, as the zone-balance gate judges an online. */
function zonesLine(zones: NodeZones[]): string {
  const total = zoneTotals(zones);
  const nodes = zones.filter((z) => z.movable + z.kernel > 0n).map((z) => `node ${z.node} ${ratioText(z)}${z.cpus ? '' : ' (no CPUs)'}`);
  return `zones: Movable:Kernel ${ratioText(total)} in total (zone-ratio ${DEFAULT_POLICY.zoneRatio}:1 unless set); ${nodes.join(', ')}`;
}

export function listJson(p: Platform, devs: DaxDevice[], a: ListArgs, f: ListFacts, memmap?: MemmapReport): unknown {
  const devices = devs.map((d) => deviceJson(d, f));
  if (!a.regions && !a.buses && !a.dimms && !a.cxl && !a.tiers) return devices;
  const o: Record<string, unknown> = {devices};
  const tiering = f.tiering;
  if (a.tiers) {
    o.tiering = {tiers: tiering?.tiers ?? [], demotion_enabled: tiering?.demotion, numa_balancing: tiering?.numaBalancing, promotion: tiering?.promotion, memmap: memmap && {param: memmap.param, devices: memmap.devices, dram: memmap.dram, savable: memmap.savable}};
    o.interleave = f.interleave?.supported ? {auto: f.interleave.auto, weights: Object.fromEntries([...f.interleave.weights].map(([n, w]) => [`node${n}`, w]))} : undefined;
    o.zones = (f.zones ?? []).map((z) => ({node: z.node, movable: z.movable, kernel: z.kernel, cpus: z.cpus, movable_kernel: ratioText(z)}));
  }
  if (a.buses) o.buses = p.buses.filter((b) => !a.bus || busMatches(b, a.bus)).map(busJson);
  if (a.regions) o.regions = selectRegions(p, a).map((r) => regionJson(r));
  if (a.dimms) o.dimms = p.dimms.filter((d) => !a.bus || busMatches(d.bus, a.bus)).map(dimmJson);
  if (a.cxl) o.cxl = p.cxl ? withMediaErrors(cxlJson(p.cxl), p.cxl, f.media?.records) : {memdevs: [], regions: [], root_decoders: [], port_decoders: [], endpoint_decoders: []};
  return o;
}

/**
 * --media-errors: each memdev's and region's poison as cxl-cli prints it, `media_errors`
 * [{offset, length, source}], a memdev's offsets device addresses (DPA), a region's offsets from
 * its start.
 */
function withMediaErrors(j: Record<string, unknown>, t: CxlTopology, records: CxlPoisonRecord[] | undefined): Record<string, unknown> {
  if (!records) return j;
  const entry = (offset: bigint, r: CxlPoisonRecord) => ({offset, length: r.length, source: r.source});
  const sorted = <T extends {offset: bigint}>(xs: T[]) => xs.sort((x, y) => (x.offset < y.offset ? -1 : x.offset > y.offset ? 1 : 0));
  for (const m of j.memdevs as Array<Record<string, unknown>>) m.media_errors = sorted(records.filter((r) => r.memdev === m.memdev).map((r) => entry(r.dpa, r)));
  for (const rj of j.regions as Array<Record<string, unknown>>) {
    const region = t.regions.find((x) => x.name === rj.region);
    if (!region) continue;
    rj.media_errors = sorted(records.filter((r) => r.region === region.name && r.hpa !== undefined).map((r) => entry(r.hpa! - region.resource, r)));
  }
  return j;
}

/**
 * CXL devices have no badblocks: their poison is in the memdevs' poison lists, which the device
 * returns when asked (--media-errors, as `cxl list --media-errors`). Root only; anything else is
 * a warning, not a failure. Asks the memdevs behind the devices listed, and with -C every memdev.
 */
function readMediaErrors(sysfs: Sysfs, p: Platform, devs: DaxDevice[], all: boolean, warnings: string[]): ListFacts['media'] {
  const memdevs = [...new Set(all && p.cxl ? p.cxl.memdevs.map((m) => m.name) : devs.flatMap((d) => d.cxl?.memdevs ?? []))];
  if (!memdevs.length) return undefined;
  if (process.getuid?.() !== 0) {
    warnings.push('CXL poison lists are read as root only: POISON shows - for CXL devices');
    return undefined;
  }
  try {
    const records = readCxlPoison(sysfs, memdevs, {mount: sysfs.root === '/' ? mountPseudoFs : undefined});
    const byDevice = new Map(devs.filter((d) => d.cxl).map((d) => [d.name, d.ranges.reduce((n, r) => n + clip(poisonInRegion(records, d.cxl!), r).length, 0)]));
    return {records, byDevice};
  } catch (e) {
    warnings.push(`CXL poison lists of ${memdevs.join(', ')} could not be read: ${(e as Error).message}`);
    return undefined;
  }
}

export const listCommand: CommandModule<GlobalArgs, ListArgs> = {
  ...VERBS.list,
  builder: (y: Argv<GlobalArgs>) =>
    y
      .usage(
        'daxram list [options]\n\n' +
          'One line per device-dax device: its mode (devdax, system-ram, disabled), size, the ' +
          'capacity kmem can online once each range is rounded inward to the memory block size ' +
          '(KMEM), target node, online/total memory blocks and their zone, poison records ' +
          'overlapping it, and its origin: an NVDIMM namespace (namespace, region, bus), a ' +
          'legacy memmap= pmem region (bus e820), a soft-reserved range (hmem.N and the ' +
          '/proc/iomem entry), or a CXL region (root decoder, memdevs, interleave, host bridge).\n\n' +
          'With --json the fields are daxctl\'s (chardev, size, target_node, align, mode, ' +
          'online_memblocks, total_memblocks, movable) plus origin, namespace, region, bus, ' +
          'cxl, iomem, badblocks, kmem_capacity and mappings (docs/list-json.md).',
      )
      .option('device', {alias: 'd', type: 'string', array: true, describe: 'Only these devices (dax0.0 or /dev/dax0.0; repeat or comma-separate)'})
      .option('region', {alias: 'r', type: 'string', array: true, describe: 'Only devices in this region (region0 or 0)'})
      .option('bus', {alias: 'b', type: 'string', array: true, describe: 'Only devices on this bus (ndbus0, 0 or a provider like ACPI.NFIT)'})
      .option('node', {alias: 'n', type: 'number', array: true, describe: 'Only devices whose target_node is this'})
      .option('regions', {alias: 'R', type: 'boolean', describe: 'Also list regions (with their namespaces)'})
      .option('buses', {alias: 'B', type: 'boolean', describe: 'Also list NVDIMM buses'})
      .option('dimms', {alias: 'D', type: 'boolean', describe: 'Also list DIMMs'})
      .option('cxl', {alias: 'C', type: 'boolean', describe: 'Also list CXL memdevs, regions and decoders (cxl-cli field names)'})
      .option('media-errors', {alias: 'L', type: 'boolean', describe: "Ask CXL memdevs for their poison lists (a command to each device, as cxl list --media-errors); without it POISON is - for CXL devices"})
      .option('tiers', {alias: 'T', type: 'boolean', describe: "With --json: memory tiers, the kernel's demotion/promotion switches, where struct pages live and each node's Movable and kernel-zone bytes (the table always shows them)"})
      .example('daxram list', 'table of every device-dax device')
      .example('daxram list --json -d dax0.0', 'daxctl-style JSON for one device')
      .example('daxram list -n 1 -R', 'devices on node 1 and the regions they come from') as unknown as Argv<ListArgs>,
  handler: (argv) => {
    const a: ListArgs = {
      ...argv,
      device: asList(argv.device),
      region: asList(argv.region),
      bus: asList(argv.bus),
      node: argv.node === undefined ? undefined : (Array.isArray(argv.node) ? argv.node : [argv.node]),
    };
    if (a.node && a.node.some((n) => !Number.isInteger(n))) {
      throw new UsageError(`--node takes NUMA node numbers`, {fix: 'e.g. -n 1'});
    }
    const sysfs = new Sysfs(argv.root ?? '/');
    const p = scanPlatform(sysfs, {devices: a.device?.map(devName)});
    const devs = filterDevices(p, a);
    const facts: ListFacts = {
      tiering: readTiering(sysfs),
      interleave: readInterleaveWeights(sysfs),
      zones: readNodeZones(sysfs),
      media: a['media-errors'] ? readMediaErrors(sysfs, p, devs, !!a.cxl, p.warnings) : undefined,
    };
    const memmap = memmapReport(sysfs, devs);
    for (const w of p.warnings) process.stderr.write(`daxram: warning: ${w}\n`);
    if (argv.json) printJson(listJson(p, devs, a, facts, memmap));
    else process.stdout.write(human(p, devs, a, facts, memmap));
  },
};

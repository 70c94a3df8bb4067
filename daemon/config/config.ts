// /etc/daxram/daxram.conf + /etc/daxram/conf.d/*.conf: what the operator wants each device-dax
// device to be at boot. Devices are matched by what survives a reboot: the namespace uuid, or
// for devices without a namespace (hmem, CXL) the dax region and the start of its range. The
// kernel name (dax0.0) is accepted too, but `daxram config check` warns that it can move.
//
// A config is all-or-nothing: one malformed line rejects the whole load, and the caller keeps
// the configuration it had (daemon/daxramd/config-loader.ts).
//
// One file over 300 lines: every [daemon] and [device] key parsed and validated in one
// table-driven pass, so the unknown-key error and daxram.conf(5) read the same list; keys and
// matching are identity.ts's.

import * as path from 'node:path';
import type {DaxDevice} from '../model/types';
import {isUuid, matchKey, matchStrength, sameDevice} from '../model/identity';
import {isDaxName} from '../model/dax';
import {headerOf, iniError, IniEntry, IniSection, parseIni} from './ini';
import {readDaxctlConf} from './daxctl-conf';
import {bool, configFiles, newRule, readText, type DeviceRule, type Source} from './rules';
import {GATE_CHOICES, MAX_ZONE_RATIO, parseZoneRatio} from '../policy/settings';
import {regionRule, regionToJson, type RegionRule} from './regions';

export * from './rules';
export type {RegionRule} from './regions';

export interface DaemonSettings {
  /** Prometheus textfile-collector directory; undefined = metrics off. */
  metricsDir?: string;
  /** node-feature-discovery local feature file (written when its directory exists); undefined = off. */
  nfdFeatures?: string;
  logLevel: 'error' | 'warning' | 'notice' | 'info' | 'debug';
  /** Devices no rule matches: leave them as they are (ignore) or make them RAM. */
  unmatched: 'ignore' | 'ram';
  /**
   * on: while managed memory is System RAM, turn on the kernel's demotion to it and promotion
   * from it (daxramd/tiering.ts); off: leave both switches alone.
   */
  tiering: 'on' | 'off';
  /**
   * on: while managed RAM is online on a node, the weighted-interleave weights of it and of the
   * DRAM nodes follow their access bandwidth (engine/interleave.ts); off: leave them.
   */
  interleaveWeights: 'on' | 'off';
  /**
   * A CXL media error (uncorrectable, or a corrected-error threshold) in managed RAM: take the
   * page out of use (offline) or only log and count it (report; daxramd/ras.ts).
   */
  mediaErrors: 'offline' | 'report';
  /**
   * How long daxramd waits at start, before READY=1 (and so before daxram-online.target), for
   * the devices its `mode = ram` rules name to appear, as systemd waits for an fstab device:
   * NVDIMM namespaces and CXL regions probe during udev's coldplug, which can finish after
   * daxramd starts. Seconds; 0: do not wait.
   */
  deviceTimeoutSec: number;
}

export interface Conflict {
  key: string;
  ours: Source;
  daxctl: Source;
  differs: string[];
}

export interface Config {
  daemon: DaemonSettings;
  devices: DeviceRule[];
  /** Capacity to lay out at boot: CXL regions and soft-reserved range splits (config/regions.ts). */
  regions: RegionRule[];
  /** daxctl rules shadowed by ours. */
  conflicts: Conflict[];
  warnings: string[];
  files: string[];
}

export interface ConfigPaths {
  /** /etc/daxram: daxram.conf and conf.d/. */
  etcDir: string;
  /** /etc/daxctl.conf.d; undefined to skip. */
  daxctlDir?: string;
}

/** The kernel's limit on NUMA nodes (CONFIG_NODES_SHIFT is at most 10). */
const MAX_NUMNODES = 1024;
/** dax region ids are ints. */
const MAX_ID = 0x7fffffff;

export const DEFAULT_PATHS: ConfigPaths = {etcDir: '/etc/daxram', daxctlDir: '/etc/daxctl.conf.d'};
export const DEFAULT_METRICS_DIR = '/var/lib/prometheus/node-exporter';
export const DEFAULT_DEVICE_TIMEOUT_SEC = 30;
/** node-feature-discovery's local source directory, and our file in it (daxramd/nfd.ts). */
export const DEFAULT_NFD_FEATURES = '/etc/kubernetes/node-feature-discovery/features.d/daxram';





/** Load and validate everything; throws ConfigError (with file:line) on the first problem. */
export function loadConfig(paths: ConfigPaths = DEFAULT_PATHS): Config {
  const files = configFiles(paths.etcDir);
  const texts = files.map((f) => ({file: f, text: readText(f)}));
  const cfg = parseConfig(texts);
  if (paths.daxctlDir) {
    const dx = readDaxctlConf(paths.daxctlDir);
    mergeDaxctl(cfg, dx.rules);
    cfg.warnings.push(...dx.warnings);
    cfg.files.push(...dx.files);
  }
  return cfg;
}

/** Parse our own files (already read), in order. Exposed for tests and `config check FILE`. */
export function parseConfig(texts: Array<{file: string; text: string}>): Config {
  const cfg: Config = {
    daemon: {metricsDir: DEFAULT_METRICS_DIR, nfdFeatures: DEFAULT_NFD_FEATURES, logLevel: 'info', unmatched: 'ignore', tiering: 'off', interleaveWeights: 'on', mediaErrors: 'offline', deviceTimeoutSec: DEFAULT_DEVICE_TIMEOUT_SEC},
    devices: [],
    regions: [],
    conflicts: [],
    warnings: [],
    files: texts.map((t) => t.file),
  };
  let daemonSeen: Source | undefined;
  for (const {file, text} of texts) {
    for (const s of parseIni(text, file)) {
      if (s.kind === 'daemon') {
        if (s.name) throw iniError(file, s.line, `[daemon] takes no name`, 'write [daemon]');
        // Drop-ins may override [daemon] keys (later files win), but one file says it once.
        if (daemonSeen && daemonSeen.file === file) throw iniError(file, s.line, `second [daemon] section in this file (first at line ${daemonSeen.line})`, 'keep one [daemon] section per file');
        daemonSeen = {file, line: s.line, origin: 'daxram'};
        applyDaemon(cfg.daemon, s, file);
      } else if (s.kind === 'device') {
        const rule = deviceRule(s, file);
        const dup = cfg.devices.find((r) => sameDevice(r.match, rule.match));
        if (dup) throw iniError(file, s.line, `[${headerOf(s)}] matches the same device as [device ${dup.label}] at ${dup.source.file}:${dup.source.line}`, 'describe each device once');
        const sameLabel = cfg.devices.find((r) => r.label === rule.label);
        if (sameLabel) throw iniError(file, s.line, `device name "${rule.label}" already used at ${sameLabel.source.file}:${sameLabel.source.line}`, 'give each [device NAME] a unique NAME');
        if (rule.match.dax && !rule.match.uuid) cfg.warnings.push(`${file}:${s.line}: [device ${rule.label}] matches by kernel name ${rule.match.dax}, which can change across reboots; prefer uuid = (see daxram list)`);
        cfg.devices.push(rule);
      } else if (s.kind === 'region') {
        const rule = regionRule(s, file);
        const dup = cfg.regions.find((r) => r.key === rule.key || r.label === rule.label);
        if (dup) throw iniError(file, s.line, `[${headerOf(s)}] ${dup.key === rule.key ? 'declares the same capacity' : 'has the same name'} as [region ${dup.label}] at ${dup.source.file}:${dup.source.line}`, 'declare each region once, under a unique NAME');
        const shared = rule.memdevs && cfg.regions.find((r) => r.memdevs?.some((m) => rule.memdevs!.includes(m)));
        if (shared) throw iniError(file, s.line, `[${headerOf(s)}] shares a memdev with [region ${shared.label}] at ${shared.source.file}:${shared.source.line}`, 'a memdev belongs to one declared region');
        cfg.regions.push(rule);
      } else {
        throw iniError(file, s.line, `unknown section [${headerOf(s)}]`, 'sections are [daemon], [device NAME] and [region NAME]');
      }
    }
  }
  return cfg;
}

function applyDaemon(d: DaemonSettings, s: IniSection, file: string): void {
  for (const e of s.entries) {
    switch (e.key) {
      case 'metrics-dir':
        if (e.value === 'off' || e.value === '') d.metricsDir = undefined;
        else if (!path.isAbsolute(e.value)) throw iniError(file, e.line, `metrics-dir must be an absolute path or "off", got "${e.value}"`);
        else d.metricsDir = path.normalize(e.value);
        break;
      case 'nfd-features':
        if (e.value === 'off' || e.value === '') d.nfdFeatures = undefined;
        else if (!path.isAbsolute(e.value)) throw iniError(file, e.line, `nfd-features must be an absolute path or "off", got "${e.value}"`);
        else d.nfdFeatures = path.normalize(e.value);
        break;
      case 'device-timeout':
        if (!/^[0-9]{1,4}$/.test(e.value)) throw iniError(file, e.line, `device-timeout must be whole seconds from 0 to 9999, got "${e.value}"`, `write e.g. device-timeout = ${DEFAULT_DEVICE_TIMEOUT_SEC} (0: do not wait)`);
        d.deviceTimeoutSec = Number(e.value);
        break;
      case 'log-level':
        d.logLevel = oneOf(e, file, ['error', 'warning', 'notice', 'info', 'debug'] as const);
        break;
      case 'unmatched':
        d.unmatched = oneOf(e, file, ['ignore', 'ram'] as const);
        break;
      case 'tiering':
        d.tiering = oneOf(e, file, ['on', 'off'] as const);
        break;
      case 'interleave-weights':
        d.interleaveWeights = oneOf(e, file, ['on', 'off'] as const);
        break;
      case 'media-errors':
        d.mediaErrors = oneOf(e, file, ['offline', 'report'] as const);
        break;
      default:
        throw iniError(file, e.line, `unknown key "${e.key}" in [daemon]`, 'known keys: metrics-dir, nfd-features, device-timeout, log-level, unmatched, tiering, interleave-weights, media-errors');
    }
  }
}


/** Each key a [device] section may hold, and how it sets the rule (the error text lists them in this order). */
const RULE_KEYS: Record<string, (rule: DeviceRule, e: IniEntry, file: string) => void> = {
  uuid: (rule, e, file) => {
    if (!isUuid(e.value)) throw iniError(file, e.line, `uuid "${e.value}" is not a uuid`, 'copy the namespace uuid from `daxram list` or `ndctl list -N`');
    rule.match.uuid = e.value.toLowerCase();
  },
  region: (rule, e, file) => {
    const m = /^(?:dax)?([0-9]{1,10})$/.exec(e.value);
    if (!m || Number(m[1]) > MAX_ID) throw iniError(file, e.line, `region "${e.value}" is not a dax region id`, 'give the X of daxX.Y, e.g. region = 1');
    rule.match.daxRegion = Number(m[1]);
  },
  resource: (rule, e, file) => {
    // A physical address: 64 bits at most.
    if (!/^0x[0-9a-fA-F]{1,16}$/.test(e.value)) throw iniError(file, e.line, `resource "${e.value}" is not a 0x-prefixed 64-bit physical address`, 'copy it from /sys/bus/dax/devices/daxX.Y/mapping0/start or `daxram list`');
    rule.match.resource = BigInt(e.value);
  },
  dax: (rule, e, file) => {
    if (!isDaxName(e.value)) throw iniError(file, e.line, `dax "${e.value}" is not a dax device name`, 'write e.g. dax = dax0.0');
    rule.match.dax = e.value;
  },
  mode: (rule, e, file) => void (rule.mode = oneOf(e, file, ['ram', 'devdax', 'reserved'] as const)),
  zone: (rule, e, file) => void (rule.zone = oneOf(e, file, ['movable', 'normal'] as const)),
  online: (rule, e, file) => void (rule.online = bool(e, file)),
  node: (rule, e, file) => {
    if (!/^[0-9]{1,4}$/.test(e.value) || Number(e.value) >= MAX_NUMNODES) throw iniError(file, e.line, `node "${e.value}" is not a NUMA node number (0 to ${MAX_NUMNODES - 1})`);
    rule.node = Number(e.value);
  },
  poison: (rule, e, file) => void (rule.gates.poison = oneOf(e, file, GATE_CHOICES.poison)),
  'mce-recovery': (rule, e, file) => void (rule.gates.mceRecovery = oneOf(e, file, GATE_CHOICES.mceRecovery)),
  security: (rule, e, file) => void (rule.gates.security = oneOf(e, file, GATE_CHOICES.security)),
  unscanned: (rule, e, file) => void (rule.gates.unscanned = oneOf(e, file, GATE_CHOICES.unscanned)),
  memmap: (rule, e, file) => void (rule.gates.memmap = oneOf(e, file, GATE_CHOICES.memmap)),
  'zone-ratio': (rule, e, file) => {
    try {
      rule.gates.zoneRatio = parseZoneRatio(e.value);
    } catch (err) {
      throw iniError(file, e.line, (err as Error).message, `write e.g. zone-ratio = 3 (0: no limit, at most ${MAX_ZONE_RATIO})`);
    }
  },
  'zone-balance': (rule, e, file) => void (rule.gates.zoneBalance = oneOf(e, file, GATE_CHOICES.zoneBalance)),
  cpuless: (rule, e, file) => void (rule.gates.cpuless = oneOf(e, file, GATE_CHOICES.cpuless)),
};

/** The keys of a [device] section. */
export const DEVICE_KEYS = Object.keys(RULE_KEYS);

function deviceRule(s: IniSection, file: string): DeviceRule {
  if (!s.name || /\s/.test(s.name)) throw iniError(file, s.line, `[device] needs one NAME without spaces`, 'write e.g. [device fast-tier]');
  const rule = newRule(s.name, file, s.line, 'daxram');
  for (const e of s.entries) {
    const set = Object.hasOwn(RULE_KEYS, e.key) ? RULE_KEYS[e.key] : undefined;
    if (!set) throw iniError(file, e.line, `unknown key "${e.key}" in [${headerOf(s)}]`, `known keys: ${DEVICE_KEYS.join(', ')}`);
    set(rule, e, file);
  }
  if (!s.entries.some((e) => e.key === 'mode')) throw iniError(file, s.line, `[${headerOf(s)}] has no mode`, 'add mode = ram, devdax or reserved');
  const m = rule.match;
  if (m.daxRegion !== undefined && m.resource === undefined) {
    throw iniError(file, s.line, `[${headerOf(s)}] has region = but no resource =: the start of the range is what identifies a device without a namespace`);
  }
  if (m.uuid === undefined && m.dax === undefined && m.resource === undefined) {
    throw iniError(file, s.line, `[${headerOf(s)}] says nothing about which device it is`, 'add uuid = (namespace uuid), or resource = (and region =) for devices without a namespace');
  }
  if (m.uuid !== undefined && m.resource !== undefined) {
    throw iniError(file, s.line, `[${headerOf(s)}] matches by uuid and by region/resource; pick one`, 'use uuid for NVDIMM namespaces, region/resource for hmem and CXL');
  }
  return rule;
}

function oneOf<T extends string>(e: IniEntry, file: string, allowed: readonly T[]): T {
  const v = e.value.toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) throw iniError(file, e.line, `${e.key} = "${e.value}" is not one of ${allowed.join(', ')}`);
  return v as T;
}


/**
 * Two matches that name one device whatever the platform: the same uuid, the same range start
 * (a region given on one side only does not make them two), or the same kernel name.
 */
export {deviceKey, matchKey, sameDevice} from '../model/identity';

/**
 * Every rule naming a live device, strongest match first: uuid, then region/resource, then
 * kernel name. A devdax namespace has two uuids: the namespace label's (namespaceX.Y/uuid,
 * which ndctl calls raw_uuid) and the dax info block's (the nd daxX.Y seed's uuid, which
 * `ndctl list` prints as "uuid" and daxctl's nvdimm.uuid means); either matches.
 */
export function rulesFor(cfg: Config, dev: Pick<DaxDevice, 'name' | 'daxRegion' | 'ranges' | 'uuids'>): DeviceRule[] {
  const by = (strength: 'uuid' | 'resource' | 'dax') => cfg.devices.filter((r) => matchStrength(r.match, dev) === strength);
  return [...by('uuid'), ...by('resource'), ...by('dax')];
}

export interface RuleChoice {
  rule: DeviceRule;
  /** Set when several rules name the device: which ones, and which one applies. */
  overlap?: string;
}

/**
 * The rule that applies to a live device. Rules written two ways (a uuid rule and a kernel-name
 * rule) may meet on one device only at run time: a reservation among them always wins, else the
 * strongest match; either way the overlap is reported with both places.
 */
export function chooseRule(cfg: Config, dev: Pick<DaxDevice, 'name' | 'daxRegion' | 'ranges' | 'uuids'>): RuleChoice | undefined {
  const all = rulesFor(cfg, dev);
  if (all.length === 0) return undefined;
  const rule = all.find((r) => r.mode === 'reserved') ?? all[0];
  if (all.length === 1) return {rule};
  const where = (r: DeviceRule) => `[device ${r.label}] (${r.source.file}:${r.source.line}, mode = ${r.mode})`;
  const why = rule.mode === 'reserved' ? 'a reservation wins' : 'the strongest match wins';
  return {rule, overlap: `${dev.name} is named by ${all.map(where).join(' and ')}; ${why}: ${where(rule)} applies`};
}

export function ruleFor(cfg: Config, dev: Pick<DaxDevice, 'name' | 'daxRegion' | 'ranges' | 'uuids'>): DeviceRule | undefined {
  return chooseRule(cfg, dev)?.rule;
}

/** Fold daxctl's rules in; ours win and each shadowed daxctl rule is reported as a conflict. */
export function mergeDaxctl(cfg: Config, rules: DeviceRule[]): void {
  for (const r of rules) {
    const key = matchKey(r.match);
    const ours = cfg.devices.find((o) => matchKey(o.match) === key);
    if (ours) {
      const differs: string[] = [];
      if (ours.mode !== r.mode) differs.push(`mode: ours ${ours.mode}, daxctl ${r.mode}`);
      if (ours.zone !== r.zone) differs.push(`zone: ours ${ours.zone}, daxctl ${r.zone}`);
      if (ours.online !== r.online) differs.push(`online: ours ${ours.online}, daxctl ${r.online}`);
      cfg.conflicts.push({key, ours: ours.source, daxctl: r.source, differs});
      continue;
    }
    const dup = cfg.devices.find((o) => o.source.origin === 'daxctl' && matchKey(o.match) === key);
    if (dup) {
      cfg.warnings.push(`${r.source.file}:${r.source.line}: daxctl section for ${key} repeats ${dup.source.file}:${dup.source.line}; the first one is used`);
      continue;
    }
    cfg.devices.push(r);
  }
}

/** Plain-data form for --json and the control socket. */
export function configToJson(cfg: Config): unknown {
  return {
    daemon: cfg.daemon,
    devices: cfg.devices.map((r) => ({...r, match: {...r.match, resource: r.match.resource === undefined ? undefined : '0x' + r.match.resource.toString(16)}})),
    regions: cfg.regions.map(regionToJson),
    conflicts: cfg.conflicts,
    warnings: cfg.warnings,
    files: cfg.files,
  };
}

// daxramd's core: compare what the operator wants (operator records, then our config, then
// daxctl's) with what the kernel shows, and ask the engine to close the gap, one device at a
// time under the engine's lock. It runs at start, on udev/kernel events for dax and nd
// devices, on SIGHUP or `daxram config reload`, and after CLI actions. A failing device is
// logged, counted and left as it is; the others still converge.

import {addReservations} from '../config/reservations';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ConfigError, DaxramError, PolicyError} from '../errors';
import {Sysfs} from '../sysfs';
import {scanPlatform} from '../model/scan';
import type {DaxDevice, Platform} from '../model/types';
import {DEFAULT_LOCK_PATH, DEFAULT_STATE_DIR, offline, online, recover, type Context} from '../engine';
import {liveEngineNative, liveMceSource, livePoisonSource} from '../policy/live';
import {makePolicy} from '../policy/settings';
import {Config, configToJson, deviceKey, DEFAULT_PATHS, DeviceMode, loadConfig, parseConfig, ruleFor, Zone, type ConfigPaths, mergeDaxctl} from '../config/config';
import {parseDaxctlConf} from '../config/daxctl-conf';
import {DaemonLog} from './log';
import {Metrics} from './metrics';
import {Notifier} from './notify';
import {OperatorRecord, StateStore} from '../config/state';
import {writeAtomic} from '../util/atomic';
import {ControlServer, DEFAULT_SOCKET} from './socket';
import {EventSource, Uevent} from './events';
import type {DaemonNative} from '../native';
import {humanSize} from '../util/size';

export interface DaemonOptions {
  paths: ConfigPaths;
  stateDir: string;
  lockPath: string;
  socketPath: string;
  root: string;
  /** Override of the config's metrics-dir. */
  metricsDir?: string;
  /** Apply once and exit (no socket, no events): `daxramd --once`. */
  once?: boolean;
  /** Tests: the kernel (a FakeKernel) and the engine context to use instead of the real ones. */
  sysfs?: Sysfs;
  engineContext?: (gates: Desired['gates']) => Context;
}

export const DEFAULT_OPTIONS: DaemonOptions = {
  paths: DEFAULT_PATHS,
  stateDir: DEFAULT_STATE_DIR,
  lockPath: DEFAULT_LOCK_PATH,
  socketPath: DEFAULT_SOCKET,
  root: '/',
};

/** What should become of one device, and why. */
export interface Desired {
  mode: DeviceMode;
  zone: Zone;
  online: boolean;
  node?: number;
  /** "operator (online, 2025-…)" | "/etc/daxram/daxram.conf:12" | "/etc/daxctl.conf.d/x.conf:3" | "unmatched = ram" */
  source: string;
  gates: {poison?: string; mceRecovery?: string; security?: string};
}

export interface DeviceReport {
  device: string;
  key: string;
  node: number;
  actual: string;
  desired?: Desired;
  action: 'none' | 'online' | 'offline' | 'refused' | 'failed';
  detail?: string;
}

const LAST_GOOD = 'last-good-config.json';

export class Daemon {
  cfg!: Config;
  readonly sysfs: Sysfs;
  readonly store: StateStore;
  readonly metrics = new Metrics();
  readonly notifier: Notifier;
  private server?: ControlServer;
  private events?: EventSource;
  private chain: Promise<unknown> = Promise.resolve();
  private pending?: NodeJS.Timeout;
  last: DeviceReport[] = [];
  private knownBad = new Map<string, Set<string>>();
  configError?: string;
  private stopping = false;

  constructor(
    readonly opts: DaemonOptions,
    readonly log: DaemonLog,
    private readonly native?: DaemonNative,
  ) {
    this.sysfs = opts.sysfs ?? new Sysfs(opts.root);
    this.store = new StateStore(opts.stateDir);
    this.notifier = new Notifier(native, process.env, (e) => log.warn(`sd_notify failed: ${(e as Error).message}`));
  }

  /** Config from disk; when it does not validate, the last good one and a logged error. */
  loadConfigKeepingLastGood(): Config {
    const snap = path.join(this.opts.stateDir, LAST_GOOD);
    try {
      const cfg = loadConfig(this.opts.paths);
      const texts = cfg.files.map((f) => ({file: f, text: fs.readFileSync(f, 'utf8'), daxctl: !f.startsWith(this.opts.paths.etcDir + path.sep)}));
      fs.mkdirSync(this.opts.stateDir, {recursive: true, mode: 0o700});
      writeAtomic(snap, JSON.stringify({texts}) + '\n', 0o600);
      this.configError = undefined;
      for (const w of cfg.warnings) this.log.warn(`config: ${w}`);
      for (const c of cfg.conflicts) this.log.notice(`config: ${c.key}: ${c.ours.file}:${c.ours.line} overrides daxctl's ${c.daxctl.file}:${c.daxctl.line}${c.differs.length ? ` (${c.differs.join('; ')})` : ''}`);
      return cfg;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      this.configError = e.message;
      this.log.error(`config rejected, nothing changed: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ''}`);
      if (this.cfg) {
        this.log.warn('keeping the configuration loaded before');
        return this.cfg;
      }
      try {
        const {texts} = JSON.parse(fs.readFileSync(snap, 'utf8')) as {texts: Array<{file: string; text: string; daxctl: boolean}>};
        const cfg = parseConfig(texts.filter((t) => !t.daxctl));
        mergeDaxctl(cfg, parseDaxctlConf(texts.filter((t) => t.daxctl)).rules);
        this.log.warn(`using the last good configuration saved in ${snap}`);
        return cfg;
      } catch {
        this.log.warn('no last good configuration: managing no device until the config is fixed');
        return parseConfig([]);
      }
    }
  }

  /** The config's reserved devices gate every online, an operator record's included. */
  engineContext(gates: Desired['gates'] = {}): Context {
    const base = this.baseContext(gates);
    return {...base, policy: addReservations(base.policy, this.cfg.devices, this.sysfs)};
  }

  private baseContext(gates: Desired['gates']): Context {
    if (this.opts.engineContext) return this.opts.engineContext(gates);
    return {
      sysfs: this.sysfs,
      native: liveEngineNative(),
      stateDir: this.opts.stateDir,
      lockPath: this.opts.lockPath,
      lockWaitMs: 60_000,
      dryRun: false,
      policy: makePolicy({poison: gates.poison, mceRecovery: gates.mceRecovery, security: gates.security}),
      // The same gate inputs as an operator's online: scrub and clear first, then decide.
      poison: livePoisonSource(this.sysfs, false),
      mce: liveMceSource(),
      log: {
        info: (m) => this.log.info(m),
        warn: (m) => this.log.warn(m),
        debug: (m) => this.log.debug(m),
      },
    };
  }

  desiredFor(dev: DaxDevice, records: OperatorRecord[]): Desired | undefined {
    const key = deviceKey(dev);
    const rule = ruleFor(this.cfg, dev, this.infoBlockUuid(dev));
    // A device's own record first; then a whole-region one left by reassign/provision.
    const rec = records.find((r) => r.key === key) ?? (dev.region ? records.find((r) => r.key === `region:${dev.region!.name}`) : undefined);
    const gates = rule?.gates ?? {};
    if (rec) {
      return {mode: rec.mode, zone: rec.zone ?? rule?.zone ?? 'movable', online: rec.online ?? true, source: `operator (${rec.action} at ${rec.at})`, gates};
    }
    if (rule) return {mode: rule.mode, zone: rule.zone, online: rule.online, node: rule.node, source: `${rule.source.file}:${rule.source.line}`, gates};
    if (this.cfg.daemon.unmatched === 'ram') return {mode: 'ram', zone: 'movable', online: true, source: 'unmatched = ram', gates: {}};
    return undefined;
  }

  /** The dax info block's uuid (what `ndctl list` shows as "uuid" for a devdax namespace). */
  infoBlockUuid(dev: DaxDevice): string[] {
    const seed = dev.namespace?.holder;
    if (!seed) return [];
    const u = this.sysfs.readOptional(`/sys/bus/nd/devices/${seed}/uuid`, seed)?.trim();
    return u ? [u] : [];
  }

  /** Serialise reconciles: events arriving during one queue exactly one more. */
  reconcile(reason: string): Promise<DeviceReport[]> {
    const run = this.chain.then(() => this.reconcileNow(reason));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Coalesce a burst of uevents (a namespace brings several) into one reconcile. */
  schedule(reason: string, delayMs = 300): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.reconcile(reason).catch((e) => this.log.error(`reconcile failed: ${describe(e)}`));
    }, delayMs);
  }

  private async reconcileNow(reason: string): Promise<DeviceReport[]> {
    this.log.debug(`reconcile (${reason})`);
    let records: OperatorRecord[] = [];
    try {
      records = this.store.load().records;
    } catch (e) {
      this.log.error(`operator records unreadable, following the config only: ${describe(e)}`);
    }
    let platform = scanPlatform(this.sysfs);
    const reports: DeviceReport[] = [];
    for (const dev of platform.devices) {
      const desired = this.desiredFor(dev, records);
      const rep: DeviceReport = {device: dev.name, key: deviceKey(dev), node: dev.targetNode, actual: actualOf(dev), desired, action: 'none'};
      reports.push(rep);
      if (!desired) continue;
      try {
        await this.converge(dev, desired, rep);
      } catch (e) {
        // A gate's refusal is a decision, not a fault: reported like a node mismatch.
        rep.action = e instanceof PolicyError ? 'refused' : 'failed';
        rep.detail = describe(e);
        this.metrics.failure(dev.name, desired.mode === 'ram' ? 'online' : 'offline');
        this.log.error(`${rep.action === 'refused' ? 'refusing to make it' : 'could not make it'} ${desired.mode} (${desired.source}): ${rep.detail}`, dev.name);
      }
    }
    if (reports.some((r) => r.action === 'online' || r.action === 'offline')) platform = scanPlatform(this.sysfs);
    for (const r of reports) {
      const d = platform.devices.find((x) => x.name === r.device);
      if (d) r.actual = actualOf(d);
    }
    this.last = reports;
    this.afterScan(platform, reports);
    return reports;
  }

  private async converge(dev: DaxDevice, want: Desired, rep: DeviceReport): Promise<void> {
    if (want.node !== undefined && dev.targetNode !== want.node) {
      rep.action = 'refused';
      rep.detail = `target_node is ${dev.targetNode}, the config (${want.source}) expects node ${want.node}`;
      this.log.error(`refusing: ${rep.detail}`, dev.name);
      this.metrics.failure(dev.name, 'node-mismatch');
      return;
    }
    const onlineBlocks = dev.memblocks.filter((b) => b.state === 'online').length;
    if (want.mode === 'ram') {
      const done = dev.mode === 'system-ram' && (want.online ? onlineBlocks === dev.memblocks.length && onlineBlocks > 0 : true);
      if (done) return;
      this.log.notice(`making it System RAM on node ${dev.targetNode}, zone ${want.zone} (${want.source})`, dev.name);
      const r = await online(this.engineContext(want.gates), dev.name, {zone: want.zone, online: want.online});
      const n = r.blocks.filter((b) => b.state === 'online').length;
      rep.action = 'online';
      rep.detail = `${n}/${r.blocks.length} blocks online, ${humanSize(r.bytes)} on node ${r.node}`;
      if (r.isolated.length) {
        this.metrics.poisonIsolated.inc({device: dev.name}, r.isolated.length);
        this.log.warn(`isolated ${r.isolated.length} poisoned page(s): ${r.isolated.join(' ')}`, dev.name);
      }
      this.metrics.transition(dev.name, 'ram');
      this.log.notice(`System RAM: ${rep.detail}`, dev.name);
    } else if (want.mode === 'devdax') {
      if (dev.mode !== 'system-ram') return;
      this.log.notice(`returning it to devdax (${want.source})`, dev.name);
      const r = await offline(this.engineContext(want.gates), dev.name, {});
      rep.action = 'offline';
      rep.detail = `devdax, ${r.blocks.length} blocks offlined`;
      this.metrics.transition(dev.name, 'devdax');
      this.log.notice(rep.detail, dev.name);
    } else if (dev.mode === 'system-ram') {
      // reserved: never online it; but taking RAM away is a decision for the operator.
      this.log.warn(`reserved by ${want.source} but it is System RAM; leaving it (daxram offline ${dev.name} to return it)`, dev.name);
    }
  }

  private afterScan(platform: Platform, reports: DeviceReport[]): void {
    const managed = reports.filter((r) => r.desired);
    this.metrics.devicesManaged = managed.length;
    this.metrics.setCapacity(platform.devices, (d) => reports.find((r) => r.device === d.name)?.desired?.mode === 'reserved');
    this.metrics.lastReconcile = Math.floor(Date.now() / 1000);
    this.checkPoison(platform, reports);
    this.writeMetrics();
    this.notifier.status(this.statusLine());
    // Watch badblocks of regions holding memory we put online.
    const regions = new Set<string>();
    for (const d of platform.devices) if (d.mode === 'system-ram' && d.region) regions.add(d.region.name);
    this.events?.watchBadblocks([...regions].map((r) => `/sys/bus/nd/devices/${r}/badblocks`));
  }

  /** New poison inside onlined RAM: hard-offline those pages so nothing allocates them again. */
  private checkPoison(platform: Platform, reports: DeviceReport[]): void {
    for (const region of platform.regions) {
      const seen = this.knownBad.get(region.name) ?? new Set<string>();
      const now = new Set(region.badblocks.map((b) => `${b.start}:${b.length}`));
      for (const b of region.badblocks) {
        const k = `${b.start}:${b.length}`;
        if (seen.has(k)) continue;
        this.metrics.poisonFound.inc({region: region.name}, Number(b.length));
        const dev = region.daxDevices.find((d) => d.ranges.some((r) => b.start < r.start + r.size && r.start < b.start + b.length));
        const rep = dev && reports.find((r) => r.device === dev.name);
        this.log.warn(`poison at 0x${b.start.toString(16)}+${b.length}${dev ? ` in ${dev.name} (${dev.mode})` : ''}`, region.name);
        if (dev && dev.mode === 'system-ram' && rep?.desired) this.isolate(dev, b.start, b.length);
      }
      for (const k of seen) if (!now.has(k)) this.metrics.poisonCleared.inc({region: region.name}, Number(k.split(':')[1]));
      this.knownBad.set(region.name, now);
    }
  }

  private isolate(dev: DaxDevice, start: bigint, length: bigint): void {
    const page = 4096n;
    for (let p = start - (start % page); p < start + length; p += page) {
      const addr = `0x${p.toString(16)}`;
      try {
        this.sysfs.writeAttr('/sys/devices/system/memory', 'memory', 'hard_offline_page', addr);
        this.metrics.poisonIsolated.inc({device: dev.name});
        this.log.warn(`hard-offlined poisoned page ${addr}`, dev.name);
      } catch (e) {
        this.metrics.failure(dev.name, 'isolate');
        this.log.error(`could not hard-offline ${addr}: ${describe(e)}`, dev.name);
      }
    }
  }

  private writeMetrics(): void {
    const dir = this.opts.metricsDir ?? this.cfg.daemon.metricsDir;
    if (!dir) return;
    try {
      if (!fs.existsSync(dir)) return; // no node_exporter here: nothing to feed
      this.metrics.write(dir);
    } catch (e) {
      this.log.warn(`cannot write metrics to ${dir}: ${describe(e)}`);
    }
  }

  statusLine(): string {
    const r = this.last;
    const managed = r.filter((x) => x.desired);
    const ram = managed.filter((x) => x.actual.startsWith('system-ram'));
    const failed = r.filter((x) => x.action === 'failed' || x.action === 'refused');
    const parts = [`${managed.length}/${r.length} device(s) managed`];
    if (ram.length) parts.push(`RAM: ${ram.map((x) => `${x.device} ${x.actual.replace('system-ram ', '')} node ${x.node}`).join(', ')}`);
    const dd = managed.filter((x) => x.actual === 'devdax');
    if (dd.length) parts.push(`devdax: ${dd.map((x) => x.device).join(', ')}`);
    if (failed.length) parts.push(`FAILED: ${failed.map((x) => x.device).join(', ')}`);
    if (this.configError) parts.push('config rejected, previous kept');
    return parts.join('; ');
  }

  /** Socket verbs. Mutating ones record the operator's decision before acting on it. */
  handlers(): Record<string, (a: Record<string, unknown>) => unknown> {
    return {
      ping: () => ({pid: process.pid}),
      status: () => ({status: this.statusLine(), devices: this.last, configError: this.configError, records: this.safeRecords()}),
      config: () => configToJson(this.cfg),
      reload: async () => {
        const before = this.cfg;
        this.cfg = this.loadConfigKeepingLastGood();
        const reports = await this.reconcile('reload');
        return {accepted: this.cfg !== before || !this.configError, error: this.configError, devices: reports};
      },
      reconcile: () => this.reconcile('request'),
      online: (a) => this.operator(a, 'ram'),
      offline: (a) => this.operator(a, 'devdax'),
      forget: async (a) => {
        const dev = str(a.device, 'device');
        const dropped = this.store.forget(dev) || this.store.forget(this.keyOf(dev) ?? dev);
        this.log.notice(`operator record ${dropped ? 'forgotten' : 'not found'}; the config applies again`, dev);
        return {forgotten: dropped, devices: await this.reconcile('forget')};
      },
    };
  }

  private safeRecords(): OperatorRecord[] {
    try {
      return this.store.load().records;
    } catch {
      return [];
    }
  }

  private keyOf(device: string): string | undefined {
    const d = scanPlatform(this.sysfs, {memblocks: false}).devices.find((x) => x.name === device);
    return d && deviceKey(d);
  }

  /** online/offline from the CLI through the socket: record, then converge that device. */
  private async operator(a: Record<string, unknown>, mode: DeviceMode): Promise<unknown> {
    const device = str(a.device, 'device');
    const zone = a.zone === undefined ? undefined : (str(a.zone, 'zone') as Zone);
    if (zone !== undefined && zone !== 'movable' && zone !== 'normal') throw new DaxramError(`zone "${zone}" is not movable or normal`, {device});
    const key = this.keyOf(device);
    if (!key) throw new DaxramError('no such dax device', {device, fix: 'list devices with: daxram list'});
    const rec: OperatorRecord = {key, device, mode, zone, online: a.online === undefined ? undefined : Boolean(a.online), action: mode === 'ram' ? 'online' : 'offline', at: new Date().toISOString()};
    this.store.record([rec]);
    this.log.notice(`operator asked for ${mode} (recorded as ${key})`, device);
    const reports = await this.reconcile(`operator ${rec.action} ${device}`);
    const r = reports.find((x) => x.device === device);
    if (r?.action === 'failed' || r?.action === 'refused') throw new DaxramError(r.detail ?? 'failed', {device});
    return r;
  }

  async start(): Promise<void> {
    this.cfg = this.loadConfigKeepingLastGood();
    this.log.info(`daxramd ${process.pid}: config ${this.cfg.files.length ? this.cfg.files.join(', ') : '(none)'}; ${this.cfg.devices.length} device rule(s)`);
    if (this.opts.once) {
      await this.settle();
      return;
    }
    // Listen first so `daxram status` answers while boot-time devices settle.
    this.server = new ControlServer(this.opts.socketPath, this.handlers(), {onError: (e) => this.log.debug(`request failed: ${describe(e)}`)});
    await this.server.listen();
    if (this.native) {
      this.events = new EventSource(
        this.native,
        {
          uevents: (evs: Uevent[]) => {
            for (const e of evs) this.log.info(`uevent: ${e.action} ${e.devpath.split('/').pop()} (${e.subsystem})`);
            if (evs.some((e) => ['add', 'remove', 'bind', 'unbind', 'change'].includes(e.action))) this.schedule('uevent');
          },
          badblocks: (paths) => {
            this.log.info(`badblocks changed: ${paths.join(', ')}`);
            this.schedule('badblocks', 0);
          },
          error: (e) => this.log.warn(`event source: ${describe(e)}`),
        },
        (p) => this.sysfs.p(p),
      );
      this.events.start();
    }
    this.notifier.startWatchdog();
    await this.settle();
    this.notifier.ready(this.statusLine());
    this.log.notice(`ready: ${this.statusLine()}`);
  }

  /** Finish an interrupted transition (SIGKILL, power loss), then converge every device. */
  private async settle(): Promise<void> {
    try {
      const r = await recover(this.engineContext());
      if (r.action !== 'none') this.log.warn(`finished an interrupted transition: ${r.action}${r.found ? ` of ${r.found.device} (started ${r.found.startedAt} by pid ${r.found.pid})` : ''}`, r.found?.device);
    } catch (e) {
      this.log.error(`recovery failed: ${describe(e)}`);
    }
    try {
      await this.reconcile('start');
    } catch (e) {
      this.log.error(`reconcile failed: ${describe(e)}`);
    }
  }

  async reload(): Promise<void> {
    this.log.info('reloading configuration (SIGHUP)');
    this.cfg = this.loadConfigKeepingLastGood();
    await this.reconcile('reload');
  }

  /**
   * Stop leaves every device as it is: memory we onlined stays online. Taking RAM away from a
   * running system on every daemon restart would be slow, can fail (unmovable pages), and
   * would make a daemon upgrade a memory-pressure event. See docs/daemon.md.
   */
  async stop(signal: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.notifier.stopping(`stopping on ${signal}; memory left as configured`);
    this.log.info(`stopping on ${signal}; devices are left as they are`);
    if (this.pending) clearTimeout(this.pending);
    this.events?.stop();
    await this.chain.catch(() => undefined);
    await this.server?.close();
  }
}

export function actualOf(dev: DaxDevice): string {
  if (dev.mode !== 'system-ram') return dev.mode;
  const on = dev.memblocks.filter((b) => b.state === 'online').length;
  const bs = dev.kmemBlocks > 0 ? dev.kmemCapacity / BigInt(dev.kmemBlocks) : 0n;
  return `system-ram ${on}/${dev.memblocks.length} online (${humanSize(BigInt(on) * bs)})`;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new DaxramError(`"${what}" must be a non-empty string`);
  return v;
}

export function describe(e: unknown): string {
  return e instanceof DaxramError ? e.describe().replace(/\n\s*/g, ' ') : String((e as Error)?.message ?? e);
}

// daxramd's core: compare what the operator wants (operator records, then our config, then
// daxctl's) with what the kernel shows, and ask the engine to close the gap, one device at a
// time under the engine's lock. It runs at start, on kernel events for dax and nd devices, on
// SIGHUP or `daxram config reload`, and after CLI actions. The parts: config-loader.ts (all or
// nothing), ready.ts (the wait before READY=1), status-line.ts (STATUS=), desired.ts (what is
// wanted), reconcile.ts (one device), follow.ts (tiering and interleave weights after each
// reconcile), poison-watch.ts (new poison in RAM), verbs.ts (the control socket), events.ts
// (what wakes it).
//
// One file over 300 lines: the reconcile chain and the state it serialises (the chain, the last
// reports, the hold, the reservations) are one object; each job that can stand alone is in a file above.

import * as fs from 'node:fs';
import {Sysfs} from '../sysfs';
import {scanPlatform} from '../model/scan';
import type {Platform} from '../model/types';
import {holdHotplug, isolate, onlineHotAdded, recover, releaseHotplug, type Context, type HotplugHold, type InterleaveOutcome} from '../engine';
import {makePolicy} from '../policy/settings';
import type {Config, ConfigPaths} from '../config/config';
import type {DaxDevice} from '../model/types';
import {DEFAULT_PATHS} from '../config/config';
import {addReservations, forgetReservation, heldReservations, rememberReservations, type HeldReservation} from '../config/reservations';
import {StateStore, type OperatorRecord} from '../config/state';
import {LOCK_PATH, SOCKET_PATH, STATE_DIR} from '../config/paths';
import {hostContext, type ContextInjection} from '../host/context';
import {throttledProgress} from '../util/progress';
import {ControlServer} from '../ipc/socket';
import type {DaemonNative} from '../native';
import {loadConfigKeepingLastGood} from './config-loader';
import {desiredFor, type Desired} from './desired';
import {DeclaredCapacity, declarationsOf} from './declared';
import {awaitConfiguredDevices} from './ready';
import {statusLine} from './status-line';
import {adoptUnmanaged, newReport, observed, reconcileDevice, type DeviceReport} from './reconcile';

import {PoisonWatch} from './poison-watch';
import {RasLoop} from './ras';
import type {Range} from '../util/ranges';
import {verbs} from './verbs';
import {releaseHeap} from './heap';
import {memmapReport, type MemmapReport} from '../model/memmap';
import type {TieringState} from '../model/tiers';
import {followInterleave, followTiering, type FollowDeps} from './follow';
import {DaemonLog} from './log';
import {describeError, LockError} from '../errors';
import {Metrics} from './metrics';
import {nodeFeatures, writeFeatures as writeNodeFeatures} from './nfd';
import {readNodeZones} from '../model/node';
import {Notifier} from './notify';
import {EventSource, Uevent} from './events';

export type {Desired} from './desired';
export type {DeviceReport} from './reconcile';

export interface DaemonOptions {
  paths: ConfigPaths;
  stateDir: string;
  lockPath: string;
  socketPath: string;
  root: string;
  /** Override of the config's metrics-dir. */
  metricsDir?: string;
  /** Override of the config's nfd-features file. */
  nfdFeatures?: string;
  /** Apply once and exit (no socket, no events): `daxramd --once`. */
  once?: boolean;
  /** Tests: the kernel (a FakeKernel) and the engine context to use instead of the real ones. */
  sysfs?: Sysfs;
  engineContext?: (gates: Desired['gates']) => Context;
  /** Test entry points: pieces of the real context swapped (a kill point, a poison source). */
  inject?: ContextInjection;
}

export const DEFAULT_OPTIONS: DaemonOptions = {
  paths: DEFAULT_PATHS,
  stateDir: STATE_DIR,
  lockPath: LOCK_PATH,
  socketPath: SOCKET_PATH,
  root: '/',
};

export class Daemon {
  cfg!: Config;
  configError?: string;
  readonly sysfs: Sysfs;
  readonly store: StateStore;
  readonly metrics = new Metrics();
  readonly notifier: Notifier;
  private readonly poison: PoisonWatch;
  /** CXL media errors after onlining (ras.ts). */
  readonly ras: RasLoop;
  /** The System RAM daxramd manages, by device, as of the last reconcile: where a media error lands. */
  private managedRam: Array<{device: string; ranges: Range[]}> = [];
  private server?: ControlServer;
  private events?: EventSource;
  private chain: Promise<unknown> = Promise.resolve();
  private pending?: NodeJS.Timeout;
  last: DeviceReport[] = [];
  /** Poison isolated in RAM since start, by device (pages), for STATUS. */
  readonly isolated = new Map<string, number>();
  /** Devices found in RAM unchecked and adopted, with what was done, for STATUS. */
  readonly adopted = new Map<string, string>();
  /** Capacity declared by the operator's records and [region] sections, laid out at boot (declared.ts). */
  readonly capacity: DeclaredCapacity;
  /** The kernel's hot-add policy daxramd holds while it runs. */
  hold?: HotplugHold;
  /** Memory tiers and the kernel's tiering switches, as of the last reconcile. */
  tiering?: TieringState;
  /** The weighted-interleave weights and who sets them, as of the last reconcile. */
  interleave?: InterleaveOutcome;
  /** Where the struct pages of dax System RAM are, as of the last reconcile (STATUS reports it). */
  memmap?: MemmapReport;
  private stopping = false;
  /** Aborted on stop: a scrub in progress ends instead of holding the stop up. */
  private readonly abort = new AbortController();
  /** Reservations remembered across configurations (config/reservations.ts). */
  held: HeldReservation[] = [];
  /** Set when the remembered reservations cannot be read: no device is changed meanwhile. */
  reservationsError?: string;
  /** The hold-still reason last reported, so it is logged once. */
  private stillSaid?: string;
  /** Rule overlaps already reported since the config was loaded (config.ts chooseRule). */
  private readonly overlapsSaid = new Set<string>();

  constructor(
    readonly opts: DaemonOptions,
    readonly log: DaemonLog,
    private readonly native?: DaemonNative,
  ) {
    this.sysfs = opts.sysfs ?? new Sysfs(opts.root);
    this.store = new StateStore(opts.stateDir);
    this.notifier = new Notifier(native, process.env, (e) => log.warn(`sd_notify failed: ${(e as Error).message}`));
    this.poison = new PoisonWatch(this.metrics, log);
    this.capacity = new DeclaredCapacity({
      context: () => this.engineContext(),
      log,
      metrics: this.metrics,
      declarationNow: (key) => {
        try {
          return declarationsOf(this.cfg, this.store.load().records).find((d) => d.key === key);
        } catch {
          return undefined; // unreadable now: the next reconcile holds still and says why
        }
      },
    });
    this.ras = new RasLoop({
      sysfs: this.sysfs,
      stateDir: opts.stateDir,
      managedRamAt: (hpa) => this.managedRam.find((m) => m.ranges.some((r) => hpa >= r.start && hpa < r.start + r.size))?.device,
      // Serialised with reconciles, like every transition daxramd starts.
      isolate: (device, ranges, how) => {
        const run = this.chain.then(() => isolate(this.engineContext(this.last.find((x) => x.device === device)?.desired?.gates), device, ranges, how));
        this.chain = run.catch(() => undefined);
        return run;
      },
      mediaErrors: () => this.cfg.daemon.mediaErrors,
      metrics: this.metrics,
      log,
    });
  }

  loadConfig(): void {
    this.overlapsSaid.clear();
    const r = loadConfigKeepingLastGood(this.opts.paths, this.opts.stateDir, this.log, this.cfg);
    this.cfg = r.cfg;
    this.configError = r.error;
    this.metrics.configRejected = r.error ? 1 : 0;
    // Remember the reservations of a configuration that loaded; retired ones stay in force.
    try {
      this.held = r.error ? heldReservations(this.opts.stateDir) : rememberReservations(this.opts.stateDir, this.cfg.devices);
      this.reservationsError = undefined;
      const retired = this.held.filter((h) => h.retiredAt !== undefined);
      this.metrics.reservationsRetired = retired.length;
      for (const h of retired) this.log.warn(`reservation ${h.key} (${h.source}) is no longer in the configuration; still enforced until daxram forget ${h.key}`);
    } catch (e) {
      this.reservationsError = describeError(e);
      this.log.error(`reservations unknown, changing no device: ${this.reservationsError}`);
    }
  }

  forgetReservation(what: string): HeldReservation | undefined {
    const released = forgetReservation(this.opts.stateDir, this.sysfs, what);
    if (released) this.loadConfig();
    return released;
  }

  /** Why daxramd must change no device now (what protects them cannot be read), if so. */
  private holdStillReason(recordsError: string | undefined): string | undefined {
    return this.reservationsError ?? recordsError;
  }

  /** The engine context for one device's gates; the config's reserved devices gate every online. */
  engineContext(gates: Desired['gates'] = {}): Context {
    const base = this.opts.engineContext
      ? this.opts.engineContext(gates)
      : hostContext(
          {
            sysfs: this.sysfs,
            policy: makePolicy(gates),
            stateDir: this.opts.stateDir,
            lockPath: this.opts.lockPath,
            lockWaitMs: 60_000,
            signal: this.abort.signal,
            // The unit forbids module loading; modules-load.d loads kmem, device_dax and msr at boot.
            loadModules: false,
            log: {info: (m) => this.log.info(m), warn: (m) => this.log.warn(m), debug: (m) => this.log.debug(m)},
            progress: this.workProgress,
          },
          this.opts.inject,
        );
    return {...base, policy: addReservations(base.policy, this.cfg.devices, this.sysfs, this.held)};
  }

  /** Serialise reconciles: events arriving during one queue exactly one more. */
  reconcile(reason: string): Promise<DeviceReport[]> {
    const run = this.chain.then(() => this.reconcileNow(reason));
    this.chain = run.catch(() => undefined).then(releaseHeap);
    return run;
  }

  /** Coalesce a burst of uevents (a namespace brings several) into one reconcile. */
  schedule(reason: string, delayMs = 300): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.reconcile(reason).catch((e) => this.log.error(`reconcile failed: ${describeError(e)}`));
    }, delayMs);
  }

  /** The operator's records, or why they cannot be read (then no device is changed). */
  private records(): {records: OperatorRecord[]; error?: string} {
    try {
      return {records: this.store.load().records};
    } catch (e) {
      return {records: [], error: `operator records unreadable: ${describeError(e)}`};
    }
  }

  private async reconcileNow(reason: string): Promise<DeviceReport[]> {
    this.log.debug(`reconcile (${reason})`);
    const {records, error: recordsError} = this.records();
    // Following the config alone would undo the operator's decisions, or online a device whose
    // reservation is unknown: change nothing until they can be read again.
    const still = this.holdStillReason(recordsError);
    if (still && still !== this.stillSaid) this.log.error(`changing no device: ${still}`);
    this.stillSaid = still;
    this.metrics.heldStill = still ? 1 : 0;
    // Declared capacity first (declared.ts): the devices it makes then reconcile like any other.
    const laid = still ? undefined : await this.capacity.layOut(declarationsOf(this.cfg, records));
    let platform = scanPlatform(this.sysfs);
    const reports: DeviceReport[] = [];
    const deps = {
      context: (g: Desired['gates']) => this.engineContext(g),
      metrics: this.metrics,
      log: this.log,
      wantedNow: (dev: DaxDevice) => desiredFor(this.cfg, dev, this.store.load().records, laid?.wanted.get(dev.name)),
    };
    await this.onlineOtherMemory();
    for (const dev of platform.devices) {
      const desired = desiredFor(this.cfg, dev, records, laid?.wanted.get(dev.name));
      if (desired?.overlap && !this.overlapsSaid.has(desired.overlap)) {
        this.overlapsSaid.add(desired.overlap);
        this.log.warn(`config: ${desired.overlap}`, dev.name);
      }
      const rep = newReport(dev, desired);
      reports.push(rep);
      if (still) rep.detail = `left as it is: ${still}`;
      // A region not laid out as declared: its whole capacity may sit under the key of the
      // declared RAM part, and following that record would make all of it System RAM.
      else if (dev.provider && laid?.leave.has(dev.provider)) rep.detail = `left as it is: ${laid.leave.get(dev.provider)}`;
      else if (desired) await reconcileDevice(deps, dev, desired, rep);
      else await adoptUnmanaged(deps, dev, rep);
    }
    if (reports.some((r) => r.action !== 'none')) platform = scanPlatform(this.sysfs);
    for (const r of reports) {
      const d = platform.devices.find((x) => x.name === r.device);
      if (d) Object.assign(r, observed(d));
    }
    for (const r of reports) {
      if (r.isolated) this.isolated.set(r.device, (this.isolated.get(r.device) ?? 0) + r.isolated);
      if (r.action === 'adopted' && r.detail) this.adopted.set(r.device, r.detail);
    }
    this.last = reports;
    await this.isolateNewPoison(platform, reports);
    await this.afterScan(platform, reports);
    return reports;
  }

  /** New poison in managed RAM goes through the engine's isolate operation, one device at a time. */
  private async isolateNewPoison(platform: Platform, reports: DeviceReport[]): Promise<void> {
    const managed = (name: string) => reports.find((r) => r.device === name)?.desired !== undefined;
    for (const p of this.poison.look(platform, (d) => managed(d.name))) {
      try {
        const r = await isolate(this.engineContext(reports.find((x) => x.device === p.device)?.desired?.gates), p.device, p.ranges);
        this.isolated.set(p.device, (this.isolated.get(p.device) ?? 0) + r.pages);
        this.metrics.poisonIsolated.inc({device: p.device}, r.pages);
        this.log.warn(`isolated ${r.pages} poisoned page(s) in ${r.ranges.join(', ')}`, p.device);
      } catch (e) {
        this.metrics.failure(p.device, 'isolate');
        this.log.error(`could not isolate new poison: ${describeError(e)}`, p.device);
      }
    }
  }

  private async afterScan(platform: Platform, reports: DeviceReport[]): Promise<void> {
    const managed = reports.filter((r) => r.desired);
    this.managedRam = platform.devices.filter((d) => d.mode === 'system-ram' && managed.some((r) => r.device === d.name)).map((d) => ({device: d.name, ranges: d.ranges}));
    const follow: FollowDeps = {context: () => this.engineContext(), daemon: this.cfg.daemon, sysfs: this.sysfs, log: this.log, metrics: this.metrics};
    this.tiering = await followTiering(follow, reports);
    this.interleave = (await followInterleave(follow, reports, this.interleave)) ?? this.interleave;
    this.memmap = memmapReport(this.sysfs, platform.devices);
    this.metrics.devicesManaged = managed.length;
    this.metrics.setCapacity(platform.devices, (d) => reports.find((r) => r.device === d.name)?.desired?.mode === 'reserved');
    this.metrics.lastReconcile = Math.floor(Date.now() / 1000);
    this.writeMetrics();
    this.writeFeatures(platform, reports);
    this.notifier.status(this.statusLine());
    // Watch badblocks of regions holding memory that is RAM.
    const regions = new Set<string>();
    for (const d of platform.devices) if (d.mode === 'system-ram' && d.region) regions.add(d.region.name);
    this.events?.watchBadblocks([...regions].map((r) => `/sys/bus/nd/devices/${r}/badblocks`));
    // CXL media errors, once the kernel has the events (cxl_core may load after daxramd starts).
    if (this.events && platform.cxl) {
      const pipe = this.ras.open();
      if (pipe) this.events.watchTrace(pipe);
    }
  }

  private writeMetrics(): void {
    const dir = this.opts.metricsDir ?? this.cfg.daemon.metricsDir;
    if (!dir) return;
    try {
      if (!fs.existsSync(dir)) return; // no node_exporter here: nothing to feed
      this.metrics.write(dir);
    } catch (e) {
      this.log.warn(`cannot write metrics to ${dir}: ${describeError(e)}`);
    }
  }

  /** The node-feature-discovery labels ([daemon] nfd-features), from the same scan as the metrics. */
  private writeFeatures(platform: Platform, reports: DeviceReport[]): void {
    const file = this.opts.nfdFeatures ?? this.cfg.daemon.nfdFeatures;
    if (!file) return;
    try {
      const managed = new Set(reports.filter((r) => r.desired && r.desired.mode !== 'reserved').map((r) => r.device));
      const labels = nodeFeatures({
        devices: platform.devices,
        managed: (d) => managed.has(d.name),
        tiers: this.tiering?.tiers ?? [],
        zones: readNodeZones(this.sysfs),
        cxlMemdevs: platform.cxl?.memdevs.length ?? 0,
        isolatedPages: [...this.isolated.values()].reduce((a, b) => a + b, 0),
        state: this.metrics.heldStill ? 'held' : this.metrics.configRejected ? 'config-rejected' : 'ok',
      });
      writeNodeFeatures(file, labels);
    } catch (e) {
      this.log.warn(`cannot write node features to ${file}: ${describeError(e)}`);
    }
  }

  /** Long work shows in STATUS as it goes (systemctl status), at most once a second. */
  private readonly workProgress = throttledProgress({
    minIntervalMs: 1000,
    show: (text, u) => {
      this.notifier.status(`${this.statusLine()}; working: ${text}`);
      this.metrics.work = u;
      this.writeMetrics();
    },
    end: () => {
      this.notifier.status(this.statusLine());
      if (!this.metrics.work) return;
      this.metrics.work = undefined;
      this.writeMetrics();
    },
  });

  statusLine(): string {
    return statusLine({
      reports: this.last,
      adopted: this.adopted,
      isolated: this.isolated,
      ras: this.ras.summary() || undefined,
      configRejected: !!this.configError,
      retiredReservations: this.held.filter((h) => h.retiredAt !== undefined).length,
      still: this.stillSaid,
    });
  }

  /**
   * Hold the kernel's hot-add policy (auto_online_blocks) for as long as daxramd runs, so dax
   * memory kmem adds waits for its check and lands in the zone configured; the boot guard
   * (daxramd --hold-hotplug) took it before udev's coldplug when installed. Other hot-added
   * memory is onlined by daxramd as the system's policy said (onlineOtherMemory).
   */
  private async takeHotplugPolicy(): Promise<void> {
    try {
      this.hold = await holdHotplug(this.engineContext(), 'daxramd');
      if (this.hold) this.log.notice(`holding auto_online_blocks at offline (the system's policy "${this.hold.policy}" applies to other hot-added memory; taken at ${this.hold.at})`);
    } catch (e) {
      this.log.error(`cannot hold the hot-add policy; dax memory may be onlined by the kernel before it is checked: ${describeError(e)}`);
    }
  }

  private async onlineOtherMemory(): Promise<void> {
    if (!this.hold) return;
    try {
      const done = await onlineHotAdded(this.engineContext());
      if (done.length) this.log.notice(`onlined hot-added memory that is not dax, as "${this.hold.policy}" says: ${done.join(' ')}`);
    } catch (e) {
      this.log.error(`onlining other hot-added memory failed: ${describeError(e)}`);
    }
  }

  async start(): Promise<void> {
    this.loadConfig();
    if (!this.opts.once) await this.takeHotplugPolicy();
    this.log.info(`daxramd ${process.pid}: config ${this.cfg.files.length ? this.cfg.files.join(', ') : '(none)'}; ${this.cfg.devices.length} device rule(s)`);
    if (this.opts.once) {
      await this.settle();
      return;
    }
    // Listen first so `daxram status` answers while boot-time devices settle.
    this.server = new ControlServer(this.opts.socketPath, verbs(this), {
      peerCred: this.native ? (fd) => this.native!.peerCred(fd) : undefined,
      // A refused peer is worth a warning; a failed request is the requester's to read.
      onError: (e) => (e instanceof LockError ? this.log.warn(describeError(e)) : this.log.debug(`request failed: ${describeError(e)}`)),
    });
    await this.server.listen();
    if (this.native) {
      this.events = new EventSource(
        this.native,
        {
          uevents: (evs: Uevent[]) => {
            for (const e of evs) this.log.info(`uevent: ${e.action} ${e.devpath.split('/').pop()} (${e.subsystem})`);
            if (evs.some((e) => ['add', 'remove', 'bind', 'unbind', 'change', 'online'].includes(e.action))) this.schedule('uevent');
          },
          badblocks: (paths) => {
            this.log.info(`badblocks changed: ${paths.join(', ')}`);
            this.schedule('badblocks', 0);
          },
          trace: (lines) => {
            for (const ev of this.ras.parse(lines)) {
              this.ras
                .handle(ev)
                .then(() => {
                  this.writeMetrics();
                  this.notifier.status(this.statusLine());
                })
                .catch((e) => this.log.error(`media-error event: ${describeError(e)}`, ev.memdev));
            }
          },
          error: (e) => this.log.warn(`event source: ${describeError(e)}`),
        },
        (p) => this.sysfs.p(p),
        ['dax', 'nd', 'cxl', 'memory'],
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
      this.log.error(`recovery failed: ${describeError(e)}`);
    }
    try {
      await this.reconcile('start');
    } catch (e) {
      this.log.error(`reconcile failed: ${describeError(e)}`);
    }
    await awaitConfiguredDevices({
      config: () => this.cfg,
      sysfs: this.sysfs,
      log: this.log,
      last: () => this.last,
      waitingRegions: () => this.capacity.waiting(),
      regionDetail: (k) => this.capacity.status.get(k)?.detail,
      reconcile: (reason) => this.reconcile(reason),
      idle: () => this.chain.catch(() => undefined),
      status: (text) => this.notifier.status(`${this.statusLine()}; ${text}`),
      stopping: () => this.stopping,
    });
  }

  async reload(): Promise<void> {
    this.log.info('reloading configuration (SIGHUP)');
    this.loadConfig();
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
    this.ras.close();
    // A scrub can run for minutes: end it (it has changed nothing yet) rather than let systemd's
    // stop timeout SIGKILL us with the policy still held. A transition past its scrub finishes.
    this.abort.abort();
    await this.chain.catch(() => undefined);
    if (this.hold) {
      try {
        const r = await releaseHotplug(this.engineContext(), 'daxramd');
        if (r.released) this.log.notice(`gave auto_online_blocks back its "${r.released.policy}"${r.onlined.length ? `; onlined ${r.onlined.join(' ')}` : ''}`);
        else if (r.heldBy) this.log.notice(`the hot-add policy is held by ${r.heldBy.by} (pid ${r.heldBy.pid}): left to it`);
      } catch (e) {
        this.log.error(`could not give the hot-add policy back: ${describeError(e)}`);
      }
    }
    await this.server?.close();
  }
}

// The control socket's verbs: what `daxram status`, `daxram config reload` and `daxram forget`
// ask a running daxramd. Operator actions themselves (online, offline, reassign) run in the
// CLI, which records them first; the daemon only hears of them through the records and the
// kernel's events.

import type {MemmapReport} from '../model/memmap';
import {DaxramError} from '../errors';
import {scanPlatform} from '../model/scan';
import {deviceKey} from '../model/identity';
import {configToJson} from '../config/config';
import type {OperatorRecord} from '../config/state';
import type {Handler} from '../ipc/socket';
import type {Sysfs} from '../sysfs';
import type {Config} from '../config/config';
import type {StateStore} from '../config/state';
import type {DaemonLog} from './log';
import type {HeldReservation} from '../config/reservations';
import type {DeviceReport} from './reconcile';
import type {DeclaredState} from './declared';

/** What the verbs need of the daemon (daemon.ts implements it). */
export interface VerbHost {
  readonly sysfs: Sysfs;
  readonly store: StateStore;
  readonly log: DaemonLog;
  readonly cfg: Config;
  readonly configError?: string;
  readonly last: DeviceReport[];
  readonly isolated: Map<string, number>;
  readonly adopted: Map<string, string>;
  /** Declared capacity and what became of each declaration this run (declared.ts). */
  readonly capacity: {readonly status: ReadonlyMap<string, DeclaredState>};
  /** CXL media errors followed since start (ras.ts). */
  readonly ras: {readonly seen: {events: number; hard: number; soft: number}};
  readonly hold?: unknown;
  readonly tiering?: unknown;
  /** Weighted-interleave weights and who sets them (engine/interleave.ts). */
  readonly interleave?: unknown;
  /** Where the struct pages of dax System RAM are, as of the last reconcile. */
  readonly memmap?: MemmapReport;
  /** Reservations remembered across configurations, retired ones included. */
  readonly held: readonly HeldReservation[];
  statusLine(): string;
  /** The operator confirms a retired reservation may go (throws for one still configured). */
  forgetReservation(what: string): HeldReservation | undefined;
  loadConfig(): void;
  reconcile(reason: string): Promise<DeviceReport[]>;
}

export function verbs(d: VerbHost): Record<string, Handler> {
  const records = (): OperatorRecord[] => {
    try {
      return d.store.load().records;
    } catch {
      return [];
    }
  };
  const keyOf = (device: string): string | undefined => {
    const dev = scanPlatform(d.sysfs, {memblocks: false}).devices.find((x) => x.name === device);
    return dev && deviceKey(dev);
  };
  return {
    ping: () => ({pid: process.pid}),
    status: () => ({status: d.statusLine(), devices: d.last, configError: d.configError, records: records(), isolated: Object.fromEntries(d.isolated), adopted: Object.fromEntries(d.adopted), ras: d.ras.seen, declared: Object.fromEntries(d.capacity.status), reservations: d.held, hotplugHold: d.hold, tiering: {enabled: d.cfg.daemon.tiering, ...(d.tiering as object | undefined)}, memmap: d.memmap, interleave: d.interleave}),
    config: () => configToJson(d.cfg),
    reload: async () => {
      const before = d.cfg;
      d.loadConfig();
      const reports = await d.reconcile('reload');
      return {accepted: d.cfg !== before || !d.configError, error: d.configError, devices: reports};
    },
    forget: async (a) => {
      const dev = a.device;
      if (typeof dev !== 'string' || dev === '') throw new DaxramError('"device" must be a non-empty string');
      const released = d.forgetReservation(dev);
      if (released) d.log.notice(`retired reservation ${released.key} (${released.source}) released by the operator`, dev);
      const dropped = d.store.forget(dev) || d.store.forget(keyOf(dev) ?? dev);
      d.log.notice(`operator record ${dropped ? 'forgotten' : 'not found'}; the config applies again`, dev);
      return {forgotten: dropped, reservationReleased: released, devices: await d.reconcile('forget')};
    },
  };
}

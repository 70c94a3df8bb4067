// The wait before READY=1. Units that need the memory start after daxram-online.target, which
// READY=1 reaches. The devices the rules name can still be probing (udev's coldplug loads
// nd_pmem, dax_pmem and the CXL drivers while daxramd starts; on 7.x the dax bus is up before
// the namespaces): daxramd waits for them, as systemd waits for an fstab device, up to
// device-timeout. A device that comes while it waits may have only a coalesced reconcile
// scheduled, or may have shown its uuid just after the start reconcile scanned it: READY comes
// after a reconcile that handled it. What is still missing then is handled whenever it comes.

import type {Config, DeviceRule} from '../config/config';
import {rulesFor} from '../config/config';
import {describeError} from '../errors';
import {scanPlatform} from '../model/scan';
import type {Platform} from '../model/types';
import type {Sysfs} from '../sysfs';
import type {DaemonLog} from './log';
import type {DeviceReport} from './reconcile';

/** What of daxramd the wait reads and drives. */
export interface ReadyWait {
  /** The configuration now (a reload may replace it while we wait). */
  config(): Config;
  sysfs: Sysfs;
  log: DaemonLog;
  /** The reports of the last reconcile. */
  last(): DeviceReport[];
  /** Declared regions still waiting for their memdevs, and why each waits. */
  waitingRegions(): string[];
  regionDetail(key: string): string | undefined;
  reconcile(reason: string): Promise<unknown>;
  /** Resolves once no reconcile runs or is queued. */
  idle(): Promise<unknown>;
  /** STATUS= while waiting: the daemon's status line and `text`. */
  status(text: string): void;
  stopping(): boolean;
}

export async function awaitConfiguredDevices(w: ReadyWait): Promise<void> {
  const timeout = w.config().daemon.deviceTimeoutSec;
  const deadline = Date.now() + timeout * 1000;
  const again = async (reason: string) => {
    await w.reconcile(reason).catch((e) => w.log.error(`reconcile failed: ${describeError(e)}`));
    return look(w);
  };
  // Each device gets one reconcile of its own here: one that fails is not retried in a loop.
  const tried = new Set<string>();
  const fresh = (s: Look) => s.unhandled.filter((d) => !tried.has(d));
  let seen = look(w);
  let regions = w.waitingRegions();
  while (fresh(seen).length + seen.missing.length + regions.length > 0 && Date.now() < deadline && !w.stopping()) {
    const appeared = fresh(seen);
    if (appeared.length) {
      for (const d of appeared) tried.add(d);
      seen = await again(`configured device(s) appeared: ${appeared.join(', ')}`);
    } else {
      w.status(`waiting for ${[...seen.missing.map((r) => `[device ${r.label}]`), ...regions.map((k) => `declared region ${k}`)].join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await w.idle();
      const now = look(w);
      // Declared regions are made in a reconcile: run one when more memdevs have their endpoint.
      seen = regions.length && now.endpoints !== seen.endpoints ? await again('memdevs attached') : now;
    }
    regions = w.waitingRegions();
  }
  if (w.stopping()) return;
  const {missing} = seen;
  if (missing.length) {
    w.log.warn(`ready without ${missing.map((r) => `[device ${r.label}] (${r.source.file}:${r.source.line})`).join(', ')}: not present after device-timeout = ${timeout} s; each is made RAM when it appears`);
  }
  for (const k of regions) w.log.warn(`ready without the declared region ${k} after device-timeout = ${timeout} s (${w.regionDetail(k)}); it is laid out when what it needs comes`);
}

/** One scan's answers to what the wait asks. */
interface Look {
  /** `mode = ram` rules no present device matches. */
  missing: DeviceRule[];
  /** Present devices such a rule names that the last reconcile did not handle under a rule. */
  unhandled: string[];
  /** How many memdevs cxl_mem has attached an endpoint to (0 without a CXL bus). */
  endpoints: number;
}

function look(w: ReadyWait): Look {
  let platform: Platform;
  try {
    // Which devices are present and which rules name them: no memory block is read (on a 6 TiB
    // box that is 49,152 blocks, a third of daxramd's start, read again by the reconcile anyway).
    platform = scanPlatform(w.sysfs, {memblocks: false});
  } catch {
    // The reconcile that just ran failed on the same scan, and said so.
    return {missing: [], unhandled: [], endpoints: 0};
  }
  const endpoints = platform.cxl?.memdevs.filter((m) => m.endpoint).length ?? 0;
  const cfg = w.config();
  const ram = cfg.devices.filter((r) => r.mode === 'ram');
  if (ram.length === 0) return {missing: [], unhandled: [], endpoints};
  const named = new Map(platform.devices.map((d) => [d.name, rulesFor(cfg, d)]));
  const handled = new Set(w.last().filter((r) => r.desired).map((r) => r.device));
  return {
    // A rule that names a present device is not missing, even where another rule wins on it (a reservation).
    missing: ram.filter((r) => ![...named.values()].some((rules) => rules.includes(r))),
    unhandled: [...named].filter(([name, rules]) => rules.some((r) => r.mode === 'ram') && !handled.has(name)).map(([name]) => name),
    endpoints,
  };
}

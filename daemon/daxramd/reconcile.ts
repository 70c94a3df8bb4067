// Closing the gap between what is wanted for one device and what the kernel shows, through the
// engine, one device at a time. A gate's refusal and a node mismatch are decisions, reported as
// "refused"; anything else that goes wrong is "failed". Either way the device is left as the
// engine left it and the other devices still converge.

import {describeError, isCancelled, PolicyError} from '../errors';
import {humanSize} from '../util/size';
import type {DaxDevice} from '../model/types';
import {deviceKey} from '../model/identity';
import {daxDriver, memblockBytes} from '../model/dax';
import {offline, online, type Context} from '../engine';
import {isChecked} from '../engine';
import type {Desired} from './desired';
import type {DaemonLog} from './log';
import type {Metrics} from './metrics';

/** What the kernel shows of a device: its mode and, as System RAM, how many of its blocks are online. */
export interface ActualState {
  mode: DaxDevice['mode'];
  online: number;
  blocks: number;
}

export interface DeviceReport {
  device: string;
  key: string;
  node: number;
  /** What the kernel shows, as data (`state`) and in words for STATUS and `daxram status` (`actual`). */
  state: ActualState;
  actual: string;
  desired?: Desired;
  action: 'none' | 'online' | 'offline' | 'adopted' | 'refused' | 'failed';
  detail?: string;
  /** Poisoned pages this pass isolated in the device. */
  isolated?: number;
}

export interface ReconcileDeps {
  context(gates: Desired['gates']): Context;
  /**
   * What is wanted of `dev` read again (undefined: unmanaged), asked under the engine's lock:
   * a CLI command that held it may have recorded another decision meanwhile.
   */
  wantedNow?(dev: DaxDevice): Desired | undefined;
  metrics: Metrics;
  log: DaemonLog;
}

/** The report's `state` and `actual` from what the scan shows of `dev` now. */
/** What the kernel shows of a device: its state as data, and as the sentence STATUS and `status` print. */
export function observed(dev: DaxDevice): Pick<DeviceReport, 'state' | 'actual'> {
  const online = dev.memblocks.online;
  const actual = dev.mode === 'system-ram' ? `system-ram ${online}/${dev.memblocks.length} online (${humanSize(memblockBytes(dev).online)})` : dev.mode;
  return {state: {mode: dev.mode, online, blocks: dev.memblocks.length}, actual};
}

export function newReport(dev: DaxDevice, desired: Desired | undefined): DeviceReport {
  return {device: dev.name, key: deviceKey(dev), node: dev.targetNode, ...observed(dev), desired, action: 'none'};
}

/** Converge one device; never throws (the outcome is in the report). */
export async function reconcileDevice(deps: ReconcileDeps, dev: DaxDevice, want: Desired, rep: DeviceReport): Promise<void> {
  try {
    await converge(deps, dev, want, rep);
  } catch (e) {
    if (isCancelled(e)) {
      // daxramd is stopping, or the decision changed under the lock: nothing was changed.
      rep.detail = describeError(e);
      deps.log.info(rep.detail, dev.name);
      return;
    }
    rep.action = e instanceof PolicyError ? 'refused' : 'failed';
    rep.detail = describeError(e);
    deps.metrics.failure(dev.name, want.mode === 'ram' ? 'online' : 'offline');
    deps.log.error(`${rep.action === 'refused' ? 'refusing to make it' : 'could not make it'} ${want.mode} (${want.source}): ${rep.detail}`, dev.name);
  }
}

/** The context of one device's transition: its gates, and the decision checked again under the lock. */
function deviceContext(deps: ReconcileDeps, dev: DaxDevice, want: Desired | undefined): Context {
  const ctx = deps.context(want?.gates ?? {});
  const wantedNow = deps.wantedNow;
  if (!wantedNow) return ctx;
  return {
    ...ctx,
    stillWanted: () => {
      const now = wantedNow(dev);
      if (!want) return now ? `${dev.name} is now wanted ${now.mode} (${now.source})` : daxDriver(ctx.sysfs, dev.name) !== 'kmem' ? `${dev.name} is no longer System RAM` : undefined;
      if (!now) return `${dev.name} is no longer managed`;
      if (now.mode !== want.mode || now.online !== want.online || now.zone !== want.zone) return `${dev.name} is now wanted ${now.mode} (${now.source})`;
      return undefined;
    },
  };
}

async function converge(deps: ReconcileDeps, dev: DaxDevice, want: Desired, rep: DeviceReport): Promise<void> {
  const {log, metrics} = deps;
  if (want.node !== undefined && dev.targetNode !== want.node) {
    rep.action = 'refused';
    rep.detail = `target_node is ${dev.targetNode}, the config (${want.source}) expects node ${want.node}`;
    log.error(`refusing: ${rep.detail}`, dev.name);
    metrics.failure(dev.name, 'node-mismatch');
    return;
  }
  const onlineBlocks = dev.memblocks.online;
  if (want.mode === 'ram') {
    const done = dev.mode === 'system-ram' && (want.online ? onlineBlocks === dev.memblocks.length && onlineBlocks > 0 : true);
    // RAM daxram never checked (onlined by the kernel at boot, or before daxramd ran) is adopted.
    if (done && (onlineBlocks === 0 || isChecked(deps.context(want.gates), dev))) return;
    log.notice(`making it System RAM on node ${dev.targetNode}, zone ${want.zone} (${want.source})`, dev.name);
    const adopting = done;
    const r = await online(deviceContext(deps, dev, want), dev.name, {zone: want.zone, online: want.online});
    const n = r.blocks.filter((b) => b.state === 'online').length;
    rep.action = adopting ? 'adopted' : 'online';
    rep.detail = `${n}/${r.blocks.length} blocks online, ${humanSize(r.bytes)} on node ${r.node}${adopting ? ` (found in RAM unchecked; ${r.isolated.length} poisoned page(s) isolated${r.warnings.filter((w) => / stays in /.test(w)).length ? `; ${r.warnings.filter((w) => / stays in /.test(w)).join('; ')}` : ''})` : ''}`;
    if (r.isolated.length) {
      rep.isolated = r.isolated.length;
      metrics.poisonIsolated.inc({device: dev.name}, r.isolated.length);
      log.warn(`isolated ${r.isolated.length} poisoned page(s): ${r.isolated.join(' ')}`, dev.name);
    }
    metrics.transition(dev.name, 'ram');
    log.notice(`System RAM: ${rep.detail}`, dev.name);
  } else if (want.mode === 'devdax') {
    if (dev.mode !== 'system-ram') return;
    log.notice(`returning it to devdax (${want.source})`, dev.name);
    const r = await offline(deviceContext(deps, dev, want), dev.name, {});
    rep.action = 'offline';
    rep.detail = `devdax, ${r.blocks.length} blocks offlined`;
    metrics.transition(dev.name, 'devdax');
    log.notice(rep.detail, dev.name);
  } else if (dev.mode === 'system-ram') {
    // reserved: never online it; but taking RAM away is a decision for the operator.
    log.warn(`reserved by ${want.source} but it is System RAM; leaving it (daxram offline ${dev.name} to return it)`, dev.name);
  }
}

/**
 * A System RAM dax device no rule or record manages and daxram never checked: its poison is
 * read and what is in use isolated (protection, not management: its zone is left alone).
 */
export async function adoptUnmanaged(deps: ReconcileDeps, dev: DaxDevice, rep: DeviceReport): Promise<void> {
  const ctx = deviceContext(deps, dev, undefined);
  if (dev.mode !== 'system-ram' || dev.memblocks.online === 0 || isChecked(ctx, dev)) return;
  try {
    deps.log.notice('System RAM that daxram never checked: reading its poison, isolating what is in use', dev.name);
    const r = await online(ctx, dev.name, {zone: 'auto'});
    rep.action = 'adopted';
    rep.detail = `found in RAM unchecked; ${r.isolated.length} poisoned page(s) isolated`;
    if (r.isolated.length) {
      rep.isolated = r.isolated.length;
      deps.metrics.poisonIsolated.inc({device: dev.name}, r.isolated.length);
      deps.log.warn(`isolated ${r.isolated.length} poisoned page(s) in use: ${r.isolated.join(' ')}`, dev.name);
    }
  } catch (e) {
    if (isCancelled(e)) {
      rep.detail = describeError(e);
      deps.log.info(rep.detail, dev.name);
      return;
    }
    rep.action = 'failed';
    rep.detail = describeError(e);
    deps.metrics.failure(dev.name, 'adopt');
    deps.log.error(`could not check it: ${rep.detail}`, dev.name);
  }
}

// Closing the gap between what is wanted for one device and what the kernel shows, through the
// engine, one device at a time. A gate's refusal and a node mismatch are decisions, reported as
// "refused"; anything else that goes wrong is "failed". Either way the device is left as the
// engine left it and the other devices still converge.

import {DaxramError, PolicyError} from '../errors';
import {humanSize} from '../util/size';
import type {DaxDevice} from '../model/types';
import {deviceKey} from '../model/identity';
import {offline, online, type Context} from '../engine';
import type {Desired} from './desired';
import type {DaemonLog} from './log';
import type {Metrics} from './metrics';

export interface DeviceReport {
  device: string;
  key: string;
  node: number;
  actual: string;
  desired?: Desired;
  action: 'none' | 'online' | 'offline' | 'refused' | 'failed';
  detail?: string;
}

export interface ReconcileDeps {
  context(gates: Desired['gates']): Context;
  metrics: Metrics;
  log: DaemonLog;
}

export function actualOf(dev: DaxDevice): string {
  if (dev.mode !== 'system-ram') return dev.mode;
  const on = dev.memblocks.filter((b) => b.state === 'online').length;
  const bs = dev.kmemBlocks > 0 ? dev.kmemCapacity / BigInt(dev.kmemBlocks) : 0n;
  return `system-ram ${on}/${dev.memblocks.length} online (${humanSize(BigInt(on) * bs)})`;
}

export function newReport(dev: DaxDevice, desired: Desired | undefined): DeviceReport {
  return {device: dev.name, key: deviceKey(dev), node: dev.targetNode, actual: actualOf(dev), desired, action: 'none'};
}

/** Converge one device; never throws (the outcome is in the report). */
export async function reconcileDevice(deps: ReconcileDeps, dev: DaxDevice, want: Desired, rep: DeviceReport): Promise<void> {
  try {
    await converge(deps, dev, want, rep);
  } catch (e) {
    rep.action = e instanceof PolicyError ? 'refused' : 'failed';
    rep.detail = describe(e);
    deps.metrics.failure(dev.name, want.mode === 'ram' ? 'online' : 'offline');
    deps.log.error(`${rep.action === 'refused' ? 'refusing to make it' : 'could not make it'} ${want.mode} (${want.source}): ${rep.detail}`, dev.name);
  }
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
  const onlineBlocks = dev.memblocks.filter((b) => b.state === 'online').length;
  if (want.mode === 'ram') {
    const done = dev.mode === 'system-ram' && (want.online ? onlineBlocks === dev.memblocks.length && onlineBlocks > 0 : true);
    if (done) return;
    log.notice(`making it System RAM on node ${dev.targetNode}, zone ${want.zone} (${want.source})`, dev.name);
    const r = await online(deps.context(want.gates), dev.name, {zone: want.zone, online: want.online});
    const n = r.blocks.filter((b) => b.state === 'online').length;
    rep.action = 'online';
    rep.detail = `${n}/${r.blocks.length} blocks online, ${humanSize(r.bytes)} on node ${r.node}`;
    if (r.isolated.length) {
      metrics.poisonIsolated.inc({device: dev.name}, r.isolated.length);
      log.warn(`isolated ${r.isolated.length} poisoned page(s): ${r.isolated.join(' ')}`, dev.name);
    }
    metrics.transition(dev.name, 'ram');
    log.notice(`System RAM: ${rep.detail}`, dev.name);
  } else if (want.mode === 'devdax') {
    if (dev.mode !== 'system-ram') return;
    log.notice(`returning it to devdax (${want.source})`, dev.name);
    const r = await offline(deps.context(want.gates), dev.name, {});
    rep.action = 'offline';
    rep.detail = `devdax, ${r.blocks.length} blocks offlined`;
    metrics.transition(dev.name, 'devdax');
    log.notice(rep.detail, dev.name);
  } else if (dev.mode === 'system-ram') {
    // reserved: never online it; but taking RAM away is a decision for the operator.
    log.warn(`reserved by ${want.source} but it is System RAM; leaving it (daxram offline ${dev.name} to return it)`, dev.name);
  }
}

export function describe(e: unknown): string {
  return e instanceof DaxramError ? e.describe().replace(/\n\s*/g, ' ') : String((e as Error)?.message ?? e);
}

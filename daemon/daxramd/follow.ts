// What daxramd keeps in step with the RAM it manages, after every reconcile: the kernel's
// demotion and promotion switches ([daemon] tiering) and the weighted-interleave weights
// ([daemon] interleave-weights). Each change is an engine transition (engine/tiering.ts,
// engine/interleave.ts); this file says when, and what the metrics show afterwards.

import {setInterleave, setTiering, type Context, type InterleaveOutcome} from '../engine';
import {describeError} from '../errors';
import type {Config} from '../config/config';
import {readTiering, tierOf, type TieringState} from '../model/tiers';
import type {Sysfs} from '../sysfs';
import type {DaemonLog} from './log';
import type {Metrics} from './metrics';
import type {DeviceReport} from './reconcile';

export interface FollowDeps {
  context(): Context;
  daemon: Config['daemon'];
  sysfs: Sysfs;
  log: DaemonLog;
  metrics: Metrics;
}

/** Tiering on while RAM daxramd manages is online (when asked for), restored otherwise; the tiers as they are then. */
export async function followTiering(d: FollowDeps, reports: DeviceReport[]): Promise<TieringState> {
  const ramOnline = reports.some((r) => r.desired?.mode === 'ram' && r.state.mode === 'system-ram' && r.state.online > 0);
  try {
    const out = await setTiering(d.context(), d.daemon.tiering === 'on', ramOnline);
    if (out.action === 'applied') d.log.notice(`tiering on while daxram's RAM is online: ${out.detail}`);
    if (out.action === 'restored') d.log.notice(`tiering switches restored: ${out.detail}`);
  } catch (e) {
    d.log.error(`tiering: ${describeError(e)}`);
  }
  const t = readTiering(d.sysfs);
  const nodes = [...new Set(reports.map((r) => r.node))].filter((n) => n >= 0);
  d.metrics.tiers = nodes.flatMap((n) => {
    const tier = tierOf(t.tiers, n);
    return tier === undefined ? [] : [{node: n, tier}];
  });
  d.metrics.demotion = t.demotion;
  d.metrics.promotion = t.promotion;
  return t;
}

/**
 * The weights follow the bandwidth of the nodes where managed RAM is online; undefined when
 * they could not be set (logged), so the caller keeps what it knew.
 */
export async function followInterleave(d: FollowDeps, reports: DeviceReport[], before?: InterleaveOutcome): Promise<InterleaveOutcome | undefined> {
  const nodes = [...new Set(reports.filter((r) => r.desired?.mode === 'ram' && r.state.online > 0).map((r) => r.node))].filter((n) => n >= 0);
  try {
    const out = await setInterleave(d.context(), d.daemon.interleaveWeights === 'on', nodes);
    if (out.action === 'applied') d.log.notice(`interleave weights from the nodes' bandwidth: ${out.detail}`);
    if (out.action === 'restored') d.log.notice(`interleave weights restored: ${out.detail}`);
    if (out.action === 'none' && out.detail !== before?.detail) d.log.info(`interleave weights: ${out.detail}`);
    d.metrics.interleave = out.supported ? {weights: out.weights, setBy: out.setBy} : undefined;
    return out;
  } catch (e) {
    d.log.error(`interleave weights: ${describeError(e)}`);
    return undefined;
  }
}

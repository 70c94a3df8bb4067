// System RAM → dax device: offline every block (retrying EBUSY within a bound), and only when
// none is online unbind kmem — unbinding with a block online strands the range until reboot —
// then give the device back to device_dax and zero it, because the pages held other processes'
// data and the next devdax user must not read it.

import {KernelError, UsageError} from '../errors';
import {humanSize} from '../util/size';
import {idRanges} from '../util/ranges';
import {DAX_DRIVERS, daxDriver, kmemBlockIds, readDax} from '../model/dax';
import {readBlockSize} from '../model/hotplug';
import {memblockDir, readBlockState, readDeviceBlocks} from '../model/memblock';
import type {Context} from './context';
import {offlineOrder, onlineValue, type ZoneRequest} from './zone';
import {newPlan, sysfsStep, type Plan} from './plan';
import {Journal, newJournalEntry} from './journal';
import {confirmDecision, decisionArgs, recordDecision, type Decision} from './intent';
import {runPlan} from './exec';
import {forgetChecked} from './checked';

export interface OfflineOptions {
  /** Zero the device before handing it back (default: whenever it was System RAM). */
  zero?: boolean;
  busyRetries?: number;
  busyDelayMs?: number;
  /** The operator's decision this transition carries out (intent.ts); daxramd's own transitions carry none. */
  decision?: Decision;
}

export interface OfflineResult {
  device: string;
  dryRun: boolean;
  plan: Plan;
  blocks: {name: string; state: string}[];
  driver?: string;
  zeroed: bigint;
  warnings: string[];
}

export function planOffline(ctx: Context, name: string, o: OfflineOptions = {}): {plan: Plan; ids: number[]; zone: ZoneRequest; zero: boolean} {
  const dev = readDax(ctx.sysfs, name);
  if (dev.driver && dev.driver !== 'device_dax' && dev.driver !== 'kmem') {
    throw new UsageError(`${name} is bound to an unexpected driver "${dev.driver}"`, {device: name, fix: 'daxram only moves devices between kmem and device_dax'});
  }
  const bs = readBlockSize(ctx.sysfs);
  const present = [...readDeviceBlocks(ctx.sysfs, kmemBlockIds(dev.ranges, bs), bs, dev.targetNode)];
  const ids = present.map((b) => b.id);
  const onlineNow = present.filter((b) => b.state === 'online');
  const zone: ZoneRequest = onlineNow.length === 0 ? 'movable' : onlineNow[0].validZones[0] === 'Movable' ? 'movable' : 'normal';
  const zero = o.zero ?? dev.driver !== 'device_dax';
  const plan = newPlan('offline', name, `offline ${name} → devdax: ${onlineNow.length} online block(s) of ${ids.length} to offline, then kmem → device_dax${zero ? `, then zero ${humanSize(dev.size)}` : ''}`);
  if (dev.driver === 'device_dax' && !zero) return {plan, ids, zone, zero};

  offlineOrder(ids).forEach((id, i) => {
    plan.steps.push(
      sysfsStep(memblockDir(id), `memory${id}`, 'state', 'offline', name, `offline block ${i + 1}/${ids.length}: migrate its pages away (EBUSY retried)`, {
        unless: `memory${id} is already offline`,
        skip: () => {
          const state = readBlockState(ctx.sysfs, id);
          return state === undefined || state === 'offline' ? `memory${id} is ${state ?? 'gone'}` : undefined;
        },
        mark: i === Math.floor(ids.length / 2) - 1 || (ids.length === 1 && i === 0) ? 'half' : undefined,
        readOnRefusal: true,
      }),
    );
  });
  const kmemDir = `${DAX_DRIVERS}/kmem`;
  const ddDir = `${DAX_DRIVERS}/device_dax`;
  const driverNow = () => daxDriver(ctx.sysfs, name);
  plan.steps.push(
    sysfsStep(kmemDir, 'kmem', 'unbind', name, name, 'unbind kmem: hot-remove the (all offline) blocks', {
      unless: `${name} is not bound to kmem`,
      skip: () => (driverNow() !== 'kmem' ? `${name} is not bound to kmem` : undefined),
      guard: () => {
        const still = ids.map((id) => ({name: `memory${id}`, state: readBlockState(ctx.sysfs, id)})).filter((b) => b.state !== undefined && b.state !== 'offline');
        if (still.length) {
          throw new KernelError(`refusing to unbind kmem: ${still.map((b) => `${b.name} is ${b.state}`).join(', ')}; the kernel would strand the range until reboot`, {device: name, code: 'EBUSY', fix: 'offline every block first (daxram offline retries EBUSY)'});
        }
      },
      mark: 'unbind',
    }),
    sysfsStep(ddDir, 'device_dax', 'new_id', name, name, `let device_dax match ${name} again`, {
      unless: `${name} is already bound to device_dax`,
      skip: () => (driverNow() === 'device_dax' ? `${name} is already bound to device_dax` : undefined),
      tolerate: ['EEXIST', 'EBUSY', 'EINVAL', 'ENXIO', 'ENODEV'],
    }),
    sysfsStep(ddDir, 'device_dax', 'bind', name, name, `bind device_dax: /dev/${name} comes back`, {
      unless: `${name} is already bound to device_dax (new_id probed it)`,
      skip: () => (driverNow() === 'device_dax' ? `${name} is bound to device_dax` : undefined),
      mark: 'bind',
    }),
  );
  if (zero) {
    plan.steps.push({
      kind: 'native',
      call: 'zeroDax',
      path: `/dev/${name}`,
      offset: 0n,
      length: dev.size,
      align: dev.align,
      device: name,
      why: 'the range served as RAM: zero it so no process data leaks to the next devdax user',
      mark: 'zero',
    });
  }
  plan.steps.push({kind: 'verify', device: name, what: `${name} bound to device_dax, no memory block of it online${zero ? ', zeroed' : ''}`});
  plan.expect = {driver: 'device_dax', blockIds: idRanges(ids), zeroed: zero ? dev.size : 0n};
  return {plan, ids, zone, zero};
}

/** A dry run: the plan and what it would report, nothing written. */
export function dryOffline(ctx: Context, name: string, o: OfflineOptions = {}): OfflineResult {
  const {plan, ids, zero} = planOffline(ctx, name, o);
  return result(ctx, name, plan, ids, zero, true);
}

function result(ctx: Context, name: string, plan: Plan, ids: number[], zero: boolean, dryRun: boolean): OfflineResult {
  return {
    device: name,
    dryRun,
    plan,
    blocks: ids.map((id) => ({name: `memory${id}`, state: readBlockState(ctx.sysfs, id) ?? 'removed'})),
    driver: daxDriver(ctx.sysfs, name),
    zeroed: zero && !dryRun ? (plan.expect.zeroed as bigint) : 0n,
    warnings: plan.warnings,
  };
}

/** The transition itself, under the lock. Also the forward path of recover() and the online rollback. */
export async function doOffline(ctx: Context, name: string, o: OfflineOptions): Promise<OfflineResult> {
  const {plan, ids, zone, zero} = planOffline(ctx, name, o);
  const subject = {kind: 'device', device: name, mode: 'devdax'} as const;
  recordDecision(ctx, o.decision, subject);
  const journal = new Journal(ctx.stateDir);
  if (plan.steps.length === 0) {
    confirmDecision(ctx, o.decision, subject);
    journal.clear();
    return result(ctx, name, plan, ids, false, false);
  }
  const intent = newJournalEntry('offline', name, {zone, zero, ...decisionArgs(o.decision)}, plan.steps.length);
  try {
    await runPlan(ctx, plan, {journal, intent, busyRetries: o.busyRetries, busyDelayMs: o.busyDelayMs});
  } catch (e) {
    await rollback(ctx, name, zone, e);
    throw e;
  }
  const driver = daxDriver(ctx.sysfs, name);
  const still = ids.filter((id) => readBlockState(ctx.sysfs, id) !== undefined).map((id) => `memory${id}`);
  if (driver !== 'device_dax' || still.length) {
    throw new KernelError(`${name} is not back in devdax: driver ${driver ?? 'none'}${still.length ? `, ${still.join(' ')} still present` : ''}`, {
      device: name,
      fix: `run daxram recover; if blocks stay present, the range is stranded until reboot (see dmesg)`,
    });
  }
  forgetChecked(ctx, readDax(ctx.sysfs, name, {blockSize: 0n}));
  confirmDecision(ctx, o.decision, subject);
  journal.clear();
  return result(ctx, name, plan, ids, zero, false);
}

/**
 * An offline that failed while kmem still holds the device (a block stayed busy) goes back to
 * RAM: re-online what we offlined. Past the unbind there is no going back; the journal stays
 * and the next run finishes the offline.
 */
async function rollback(ctx: Context, name: string, zone: ZoneRequest, cause: unknown): Promise<void> {
  const dev = readDax(ctx.sysfs, name);
  if (dev.driver !== 'kmem') return;
  ctx.log.warn(`${name}: offline failed (${(cause as Error).message}); onlining its blocks again`);
  const bs = readBlockSize(ctx.sysfs);
  try {
    for (const id of kmemBlockIds(dev.ranges, bs)) {
      if (readBlockState(ctx.sysfs, id) === 'offline') ctx.sysfs.writeAttr(memblockDir(id), `memory${id}`, 'state', onlineValue(zone));
    }
    new Journal(ctx.stateDir).clear();
  } catch (e2) {
    ctx.log.warn(`${name}: could not online its blocks again (${(e2 as Error).message}); the intent journal lets the next run finish the offline`);
  }
}

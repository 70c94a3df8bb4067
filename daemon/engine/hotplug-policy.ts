// The kernel's policy for hot-added memory (auto_online_blocks) decides where kmem's blocks land
// the moment kmem binds: "online" puts them in ZONE_NORMAL on 6.12 (Debian's default), before
// daxram could ask for Movable. An online that asks for a zone takes the policy for the length
// of the bind (auto_online_blocks = offline), then gives it back and onlines, as the policy
// says, any other block hot-added meanwhile (ACPI DIMM hotplug, virtio-mem): nothing else on
// the box loses its auto-online. The journal keeps the policy, so a crash in the window gives
// it back too (recover.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {syncDir, writeAtomic} from '../util/atomic';
import {idRanges, parseIdRanges} from '../util/ranges';
import {bootHotplugPolicy, MEMORY_DIR, readAutoOnline, readBlockSize} from '../model/hotplug';
import {kmemBlockIds, listDax, readDax} from '../model/dax';
import {listMemBlockIds, memblockDir, readBlockState} from '../model/memblock';
import type {Context} from './context';
import {sysfsStep, type Plan, type RestoreHotplugStep, type SysfsStep} from './plan';
import type {JournalEntry} from './journal';

export const HOTPLUG_POLICIES = ['online', 'online_movable', 'online_kernel'] as const;

/** The policy online would take (undefined: nothing to take, the kernel adds blocks offline). */
export function policyToTake(ctx: Context): string | undefined {
  const auto = readAutoOnline(ctx.sysfs);
  return (HOTPLUG_POLICIES as readonly string[]).includes(auto) ? auto : undefined;
}

export function takePolicyStep(ctx: Context, device: string, policy: string): SysfsStep {
  return sysfsStep(MEMORY_DIR, 'memory', 'auto_online_blocks', 'offline', device, `hold the kernel's hot-add policy ("${policy}") while kmem binds, so the blocks wait for daxram's zone`, {
    unless: 'auto_online_blocks is already offline',
    skip: () => (readAutoOnline(ctx.sysfs) === 'offline' ? 'auto_online_blocks is offline' : undefined),
    mark: 'policy',
  });
}

export function restorePolicyStep(device: string, policy: string, before: number[], ours: number[]): RestoreHotplugStep {
  return {kind: 'hotplug-restore', device, policy, before, ours, why: `give the kernel its hot-add policy back; other memory hot-added meanwhile comes online as "${policy}" says`};
}

/** What the journal keeps of a plan's hold: the policy to give back, and the blocks known before it. */
export function heldPolicyArgs(plan: Plan): Pick<JournalEntry['args'], 'hotplugPolicy' | 'hotplugBefore'> {
  const r = plan.steps.find((s): s is RestoreHotplugStep => s.kind === 'hotplug-restore');
  return r ? {hotplugPolicy: r.policy, hotplugBefore: idRanges([...r.before, ...r.ours])} : {};
}

/**
 * A run killed while it held the policy: give it back as its journal entry recorded it, unless
 * a long hold is in force (daxramd or the boot guard took the policy meanwhile, and keeps it
 * offline on the system's behalf: takeHold learnt the policy from this same entry).
 */
export function giveBackHeldPolicy(ctx: Context, entry: JournalEntry): void {
  const a = entry.args;
  if (!a.hotplugPolicy || !(HOTPLUG_POLICIES as readonly string[]).includes(a.hotplugPolicy) || readAutoOnline(ctx.sysfs) !== 'offline') return;
  const hold = readHold(ctx);
  if (hold) {
    ctx.log.warn(`${entry.device}: the interrupted run held auto_online_blocks ("${a.hotplugPolicy}"); ${hold.by} holds it now and gives it back`);
    return;
  }
  ctx.log.warn(`${entry.device}: giving auto_online_blocks back its "${a.hotplugPolicy}" (held by the interrupted run)`);
  restoreHotplug(ctx, a.hotplugPolicy, new Set(a.hotplugBefore !== undefined ? parseIdRanges(a.hotplugBefore) : listMemBlockIds(ctx.sysfs)));
}

/**
 * Blocks of every dax device kmem holds. Those are never "other" memory: loading kmem binds
 * every CXL and hmem device waiting for it (6.3+), and their blocks must wait, offline, for
 * daxram's checks like the device being onlined.
 */
export function daxBlockIds(ctx: Context): Set<number> {
  const bs = readBlockSize(ctx.sysfs);
  const ids = new Set<number>();
  if (bs === 0n) return ids;
  for (const name of listDax(ctx.sysfs)) {
    try {
      const d = readDax(ctx.sysfs, name, {blockSize: bs});
      if (d.driver === 'kmem') for (const id of kmemBlockIds(d.ranges, bs)) ids.add(id);
    } catch {
      /* a device going away: not ours to online either way */
    }
  }
  return ids;
}

/** Put `policy` back and online blocks that appeared while it was held (not in `known`, not dax). Returns them. */
export function restoreHotplug(ctx: Context, policy: string, known: Set<number>): string[] {
  if (readAutoOnline(ctx.sysfs) !== policy) ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', 'auto_online_blocks', policy);
  const onlined: string[] = [];
  const dax = daxBlockIds(ctx);
  for (const id of listMemBlockIds(ctx.sysfs)) {
    if (known.has(id) || dax.has(id) || readBlockState(ctx.sysfs, id) !== 'offline') continue;
    try {
      ctx.sysfs.writeAttr(memblockDir(id), `memory${id}`, 'state', policy);
      onlined.push(`memory${id}`);
    } catch (e) {
      ctx.log.warn(`memory${id} (hot-added while daxram held the policy) could not be onlined as "${policy}": ${(e as Error).message}`);
    }
  }
  return onlined;
}

/**
 * A long hold of the policy, by the boot guard (daxramd --hold-hotplug, before udev's
 * coldplug) and then daxramd: what the system's policy was, which blocks existed when it was
 * taken, and who holds it now. Kept in /run (per boot), beside the lock.
 */
export interface HotplugHold {
  policy: string;
  /** idRanges of the blocks present when the policy was taken: the system decided on those. */
  before: string;
  at: string;
  /** The holder: "daxram-hotplug-guard" (a oneshot that hands it to daxramd) or "daxramd". */
  by: string;
  /** The holder's pid and start time (/proc/PID/stat), to tell a live holder from a dead one. */
  pid: number;
  startTime?: string;
  /** The hold file could not be read: the policy is the boot default, the blocks known before are not known. */
  lost?: true;
}

export function holdFile(ctx: Pick<Context, 'lockPath'>): string {
  return path.join(path.dirname(ctx.lockPath), 'hotplug-hold.json');
}

export function readHold(ctx: Pick<Context, 'lockPath' | 'sysfs'>): HotplugHold | undefined {
  let text: string;
  try {
    text = fs.readFileSync(holdFile(ctx), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const h = JSON.parse(text) as HotplugHold;
    if ((HOTPLUG_POLICIES as readonly string[]).includes(h.policy) && typeof h.before === 'string') return h;
  } catch { /* below */ }
  // A hold file that cannot be read still means "held" (never strand the system's policy at
  // offline): the policy it kept is lost, so give back the one the kernel booted with.
  return {policy: bootHotplugPolicy(ctx.sysfs, os.release()), before: '', at: '', by: 'an unreadable hold file', pid: 0, lost: true};
}

/** Start time of a live process, or undefined when it is gone (or a zombie). */
export function processStart(pid: number, procRoot = '/proc'): string | undefined {
  try {
    const stat = fs.readFileSync(path.join(procRoot, String(pid), 'stat'), 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
  } catch {
    return undefined;
  }
}

/** The holder is alive: the same process (pid and start time) is still running. */
export function holderAlive(h: HotplugHold): boolean {
  if (!h.pid || h.pid === process.pid) return h.pid === process.pid;
  const start = processStart(h.pid);
  return start !== undefined && (h.startTime === undefined || start === h.startTime);
}

function writeHold(ctx: Context, h: HotplugHold): void {
  writeAtomic(holdFile(ctx), JSON.stringify(h, null, 2) + '\n');
}

/**
 * Take the kernel's hot-add policy until released: record it and who holds it, then set
 * auto_online_blocks to offline, so dax memory kmem adds waits for daxram. A hold in force is
 * taken over (the guard hands it to daxramd; a daxramd restarted after SIGKILL takes its dead
 * predecessor's). When the policy is already offline because an interrupted transition held
 * it, that transition's policy is the system's. Nothing to take when the system's policy
 * itself keeps hot-added memory offline. Callers hold the lock (engine/index.ts holdHotplug).
 */
export function takeHold(ctx: Context, by: string, interrupted?: JournalEntry): HotplugHold | undefined {
  const me = {by, pid: process.pid, startTime: processStart(process.pid)};
  const held = readHold(ctx);
  if (held) {
    const hold = {...held, ...me};
    writeHold(ctx, hold);
    if (readAutoOnline(ctx.sysfs) !== 'offline') ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', 'auto_online_blocks', 'offline');
    return hold;
  }
  const fromJournal = interrupted?.args.hotplugPolicy;
  const policy = policyToTake(ctx) ?? (readAutoOnline(ctx.sysfs) === 'offline' && fromJournal && (HOTPLUG_POLICIES as readonly string[]).includes(fromJournal) ? fromJournal : undefined);
  if (!policy) return undefined;
  const before = policyToTake(ctx) ? listMemBlockIds(ctx.sysfs) : parseIdRanges(interrupted?.args.hotplugBefore ?? idRanges(listMemBlockIds(ctx.sysfs)));
  const hold: HotplugHold = {policy, before: idRanges(before), at: new Date().toISOString(), ...me};
  writeHold(ctx, hold);
  ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', 'auto_online_blocks', 'offline');
  return hold;
}

/** While held: online, as the system's policy says, non-dax blocks that appeared since. */
export function onlineOtherMemory(ctx: Context, hold: HotplugHold): string[] {
  const known = new Set(parseIdRanges(hold.before));
  const dax = daxBlockIds(ctx);
  const out: string[] = [];
  for (const id of listMemBlockIds(ctx.sysfs)) {
    if (known.has(id) || dax.has(id) || readBlockState(ctx.sysfs, id) !== 'offline') continue;
    try {
      ctx.sysfs.writeAttr(memblockDir(id), `memory${id}`, 'state', hold.policy);
      out.push(`memory${id}`);
    } catch (e) {
      ctx.log.warn(`memory${id} (hot-added, not dax) could not be onlined as "${hold.policy}": ${(e as Error).message}`);
    }
  }
  return out;
}

export interface ReleaseOutcome {
  /** The hold given back, or undefined when there was none or it is someone else's. */
  released?: HotplugHold;
  /** Held by a live process other than the caller: left to it. */
  heldBy?: HotplugHold;
  /** Blocks hot-added meanwhile, onlined as the policy says. */
  onlined: string[];
}

/**
 * Give the policy back: restore it, online what came meanwhile, drop the hold. `by` releases its
 * own hold; any caller releases a hold whose holder is gone (daxramd killed, the guard's oneshot
 * long done): the package's removal, the guard's stop and daxramd's final failure do that.
 * Callers hold the lock (engine/index.ts releaseHotplug).
 */
export function releaseHold(ctx: Context, by: string): ReleaseOutcome {
  const hold = readHold(ctx);
  if (!hold) return {onlined: []};
  const mine = hold.by === by && hold.pid === process.pid;
  if (!mine && holderAlive(hold)) return {heldBy: hold, onlined: []};
  // Which blocks came while it was held is lost with an unreadable hold: online none by guess.
  const onlined = hold.lost ? [] : onlineOtherMemory(ctx, hold);
  if (readAutoOnline(ctx.sysfs) !== hold.policy) ctx.sysfs.writeAttr(MEMORY_DIR, 'memory', 'auto_online_blocks', hold.policy);
  fs.rmSync(holdFile(ctx), {force: true});
  syncDir(path.dirname(holdFile(ctx)));
  return {released: hold, onlined};
}

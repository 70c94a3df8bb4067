// The operator's decision and the transition that carries it out are kept in step by one hook,
// in one order: record (under the lock, after the plan, before the first kernel write), do,
// confirm (what the transition made, before its journal is cleared). The journal entry carries
// the decision (`args.action`), so a run killed anywhere after record leaves a journal that
// recover finishes the same way, confirm included; a provision recover tears down instead is
// abandoned. daxramd's own transitions carry no decision: it follows the records, it never
// writes them. The hook's implementation (host/intent.ts) keeps the records in the
// desired-state store; the engine only says when and what.

import type {JournalEntry} from './journal';

/** The CLI verbs whose decision outlives the command: daxramd must not undo it. */
export type OperatorAction = 'online' | 'offline' | 'reassign' | 'provision' | 'release';
const ACTIONS: readonly string[] = ['online', 'offline', 'reassign', 'provision', 'release'];

export interface Decision {
  action: OperatorAction;
  zone?: string;
  /** For RAM: blocks onlined (false: kmem bound, blocks left offline). */
  online?: boolean;
}

/** What a decision is about, as the transition knows it before its first write. */
export type Subject =
  | {kind: 'device'; device: string; mode: 'ram' | 'devdax'}
  /** An NVDIMM region laid out again: its devices are the operator's until each has its own record. */
  | {kind: 'nvdimm-region'; region: string}
  /** A dynamic dax region split (hmem.N, or a CXL region's dax_regionN): `ram` bytes from `start` as device 0. */
  | {kind: 'dax-split'; owner: string; start: bigint; size: bigint; ram: bigint}
  /** A CXL RAM region to be made of these memdevs (interleave order). */
  | {kind: 'cxl-region'; memdevs: string[]; size: bigint}
  /** A CXL region about to go, with the dax devices it has now. */
  | {kind: 'cxl-release'; region: string; devices: string[]};

/** What the transition made: the devices whose records follow from the decision. */
export interface Made {
  devices: ReadonlyArray<{dax?: string; role: string}>;
}

export interface IntentHook {
  /** Before the first write. Returns a warning when part of the decision cannot be kept (no serial number to find a memdev by). */
  record(d: Decision, s: Subject): string | undefined;
  /** After the transition, or after recover finished it. */
  confirm(d: Decision, s: Subject, made: Made): void;
  /** recover undid the transition instead (a provision torn down): the decision goes with it. */
  abandon(d: Decision, s: Subject): void;
}

/** The part of the engine Context the helpers below use (context.ts holds the hook). */
interface Keeper {
  dryRun: boolean;
  intent?: IntentHook;
  log: {warn(msg: string): void};
}

/** The decision a journal entry carries, if an operator's verb started it. */
export function decisionOf(entry: Pick<JournalEntry, 'args'>): Decision | undefined {
  const a = entry.args;
  return a.action && ACTIONS.includes(a.action) ? {action: a.action as OperatorAction, zone: a.zone, online: a.online} : undefined;
}

/** The journal args that carry a decision (none for daxramd's own transitions). */
export function decisionArgs(d: Decision | undefined): {action?: string} {
  return d ? {action: d.action} : {};
}

/** Where a device name appears in warnings: the subject's own name. */
function labelOf(s: Subject): string {
  switch (s.kind) {
    case 'device':
      return s.device;
    case 'nvdimm-region':
      return s.region;
    case 'dax-split':
      return s.owner;
    case 'cxl-region':
      return s.memdevs.join(',');
    case 'cxl-release':
      return s.region;
  }
}

export function recordDecision(ctx: Keeper, d: Decision | undefined, s: Subject): void {
  if (!d || ctx.dryRun || !ctx.intent) return;
  const w = ctx.intent.record(d, s);
  if (w) ctx.log.warn(`${labelOf(s)}: ${w}`);
}

export function confirmDecision(ctx: Keeper, d: Decision | undefined, s: Subject, made: Made = {devices: []}): void {
  if (d && !ctx.dryRun) ctx.intent?.confirm(d, s, made);
}

export function abandonDecision(ctx: Keeper, d: Decision | undefined, s: Subject): void {
  if (d && !ctx.dryRun) ctx.intent?.abandon(d, s);
}

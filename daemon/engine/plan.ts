// A Plan is the exact list of kernel operations a transition performs, in order. --dry-run
// prints it; execution walks the same list, so what an operator reviewed is what runs.

import type {GateResult} from '../policy/gates';
import {humanSize} from '../util/size';
import type {Range} from '../util/ranges';

export interface SysfsStep {
  kind: 'sysfs';
  /** Kernel object the write is addressed to (validated by Sysfs.writeAttr). */
  objectDir: string;
  /** Kernel name of that object (memory72, device_dax, kmem …). */
  object: string;
  attr: string;
  /** Full kernel path of the attribute written. */
  path: string;
  value: string;
  /** The dax device this is for. */
  device: string;
  why: string;
  /** Condition under which the step is skipped at run time (read before write). */
  unless?: string;
  /** A point a crash test may stop at (Context.afterStep). */
  mark?: KillPoint;
  /**
   * Skipped when the attribute already reads the value to write (both trimmed; '\n' reads as
   * empty): the step is done. Says why. The executor reads it, the one engine module that does.
   */
  already?: string;
  /** Skipped when this path is gone: what the step acts on went with an earlier step (or run). */
  gone?: {path: string; why: string};
  /** Run-time re-read of the state through the model: a reason to skip, or undefined to write. Not serialized. */
  skip?: () => string | undefined;
  /** Run-time precondition that must hold before writing (throws otherwise). Not serialized. */
  guard?: () => void;
  /** Objects created at run time (the region's next namespace/dax seed): re-point the step just before it runs. Not serialized. */
  resolve?: (fresh?: boolean) => {objectDir: string; object: string; value?: string};
  /**
   * The object may vanish under us (the kernel unregisters deleted namespaces asynchronously,
   * and a seed read just before can be one of them): re-resolve with fresh=true and retry.
   */
  retryVanished?: boolean;
  /** Errors (errno names) that are expected and only logged, e.g. new_id when the id exists. */
  tolerate?: string[];
  /**
   * The kernel refuses (EINVAL) a write of what the object already is, as a memory block's
   * state does: write first and read the skip check only when refused. One read per block less
   * on the path an operator waits for; a rerun converges the same way.
   */
  readOnRefusal?: boolean;
}

export interface ModprobeStep {
  kind: 'modprobe';
  module: string;
  device: string;
  why: string;
  mark?: KillPoint;
  /** The driver directory that exists once the module is loaded: skipped when it does. */
  present: string;
}

/** A whole device transition run as one step of a region transition (its own plan and journal). */
export interface EngineStep {
  kind: 'engine';
  call: 'online' | 'offline';
  device: string;
  why: string;
  /** The device name when it only exists at run time (the dax device of a new namespace). */
  resolveDevice?: () => string;
  mark?: KillPoint;
}

export interface NativeStep {
  kind: 'native';
  call: 'zeroDax';
  /** Character device mapped. */
  path: string;
  offset: bigint;
  length: bigint;
  /** mmap granularity: the device's align. */
  align: bigint;
  device: string;
  why: string;
  mark?: KillPoint;
}

/** hard: the page's content is lost (an uncorrectable error); soft: still good, migrated first (a corrected-error threshold). */
export type IsolateHow = 'hard' | 'soft';

/**
 * hard_offline_page (or, for pages whose content is still good, soft_offline_page: migrated
 * first) for every page of a range (engine/hwpoison.ts): one step however large.
 */
export interface IsolateStep {
  kind: 'isolate';
  device: string;
  range: Range;
  how: IsolateHow;
  pages: number;
  why: string;
  mark?: KillPoint;
}

/**
 * Give auto_online_blocks back the value it had (the kernel's policy for hot-added memory),
 * then online, as that policy says, every block that appeared while daxram held it "offline"
 * and is not the device's: other hot-added memory keeps its auto-online.
 */
export interface RestoreHotplugStep {
  kind: 'hotplug-restore';
  device: string;
  /** The policy to restore (online, online_movable, online_kernel). */
  policy: string;
  /** Blocks present before the policy was taken, and the device's own. */
  before: number[];
  ours: number[];
  why: string;
  mark?: KillPoint;
}

export interface VerifyStep {
  kind: 'verify';
  device: string;
  what: string;
  mark?: KillPoint;
}

export type Step = SysfsStep | ModprobeStep | NativeStep | VerifyStep | EngineStep | IsolateStep | RestoreHotplugStep;
export type KillPoint = 'policy' | 'unbind' | 'bind' | 'half' | 'offline' | 'zero' | 'destroy' | 'create' | 'decoders' | 'commit' | 'resize';

export interface Plan {
  op: 'online' | 'offline' | 'reassign' | 'provision' | 'release' | 'isolate';
  device: string;
  summary: string;
  gates: GateResult[];
  warnings: string[];
  /** Explanations (layout, capacity) printed before the steps. */
  notes: string[];
  /** Dry run: the scrub-and-clear ioctls the real run issues before it evaluates the gates. */
  scrub?: string[];
  steps: Step[];
  /** Facts the result is checked against (blocks, node, zone, bytes). */
  expect: Record<string, unknown>;
}

export function newPlan(op: Plan['op'], device: string, summary: string): Plan {
  return {op, device, summary, gates: [], warnings: [], notes: [], steps: [], expect: {}};
}

export function sysfsStep(
  objectDir: string,
  object: string,
  attr: string,
  value: string,
  device: string,
  why: string,
  extra: Partial<Pick<SysfsStep, 'unless' | 'mark' | 'already' | 'gone' | 'skip' | 'tolerate' | 'guard' | 'resolve' | 'retryVanished' | 'readOnRefusal'>> = {},
): SysfsStep {
  return {kind: 'sysfs', objectDir, object, attr, path: `${objectDir}/${attr}`, value, device, why, ...extra};
}

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'sysfs':
      return `write "${s.value.replace(/\n/g, '\\n')}" > ${s.path}${s.unless ? `  (skipped if ${s.unless})` : s.already ? '  (skipped if it reads so)' : ''}\n       # ${s.why}`;
    case 'modprobe':
      return `modprobe ${s.module}  (skipped if ${s.present} exists)\n       # ${s.why}`;
    case 'native':
      return `zeroDax ${s.path}: mmap(MAP_SHARED) offset ${s.offset} length ${s.length} (${humanSize(s.length)}) in ${humanSize(s.align)}-aligned chunks, non-temporal stores + sfence\n       # ${s.why}`;
    case 'verify':
      return `verify ${s.what}`;
    case 'hotplug-restore':
      return `write "${s.policy}" > /sys/devices/system/memory/auto_online_blocks, then online ("${s.policy}") any other block hot-added meanwhile\n       # ${s.why}`;
    case 'isolate':
      return `for each of ${s.pages} page(s) in 0x${s.range.start.toString(16)}-0x${(s.range.start + s.range.size - 1n).toString(16)}: write "0xPAGE" > /sys/devices/system/memory/${s.how}_offline_page  (skipped if already hwpoisoned)\n       # ${s.why}`;
    case 'engine':
      return `daxram ${s.call} ${s.device}  (its own plan: see daxram ${s.call} ${s.device.startsWith('<') ? 'DEV' : s.device} --dry-run)\n       # ${s.why}`;
  }
}

export function describePlan(p: Plan): string {
  const out: string[] = [`plan: ${p.summary}`];
  if (p.scrub?.length) {
    out.push('scrub and clear (before the gates; a dry run issues none of these):');
    for (const l of p.scrub) out.push(`  ${l}`);
  }
  if (p.gates.length) {
    out.push('gates:');
    for (const g of p.gates) out.push(`  ${g.verdict.padEnd(7)} ${g.gate.padEnd(16)} [${g.setting}] ${g.detail}`);
  }
  for (const w of p.warnings) out.push(`warning: ${w}`);
  for (const n of p.notes) out.push(n);
  out.push(p.steps.length ? 'steps:' : 'steps: none (already in the requested state)');
  p.steps.forEach((s, i) => out.push(`  ${String(i + 1).padStart(2)}. ${describeStep(s)}`));
  return out.join('\n');
}

/** JSON form for --dry-run --json: steps without run-time internals. */
export function planJson(p: Plan): unknown {
  return p;
}

// Running a plan: one step at a time, the journal advanced before each, every kernel refusal
// turned into a KernelError that names the device, the object and what to do about it.

import * as fs from 'node:fs';
import {DaxramError, errnoName, KernelError, PathValidationError} from '../errors';
import {MODULE_PURPOSE} from '../kmod';
import {runIsolate} from './hwpoison';
import {restoreHotplug} from './hotplug-policy';
import type {Context} from './context';
import type {Journal, JournalEntry} from './journal';
import type {NativeStep, Plan, Step, SysfsStep} from './plan';

const EHWPOISON = 133;

const FIXES: Record<string, (s: SysfsStep) => string> = {
  EBUSY: (s) =>
    s.attr === 'state'
      ? `${s.object} holds pages the kernel cannot migrate right now; retry later, or find the user (pinned or unmovable kernel allocations land in the Normal zone: online as movable)`
      : `the kernel is busy with ${s.device}; retry, and check nothing else (daxctl, udev rules) is reconfiguring it`,
  EINVAL: (s) =>
    s.attr === 'state'
      ? `${s.object} refused "${s.value}": the block is already in that state or the zone is not allowed at that address (see ${s.objectDir}/valid_zones)`
      : `the kernel rejected "${s.value}" for ${s.path}; check the device's target_node and size (daxram list)`,
  ENXIO: (s) => `${s.device} is gone or its driver refused it; check daxram list and dmesg`,
  ENODEV: (s) => `${s.device} is not bound to ${s.object}; check daxram list`,
  EHWPOISON: (s) => `${s.object} contains hard-offlined (poisoned) pages: the kernel will not online it until reboot; set poison=online-and-isolate only for fresh ranges, or leave ${s.device} as devdax`,
};

export function kernelFailure(e: unknown, s: SysfsStep): KernelError {
  const code = errnoName(e);
  const errno = code === 'EHWPOISON' ? EHWPOISON : (e as DaxramError).errno;
  return new KernelError(`${s.object === s.device ? '' : s.object + ': '}writing "${s.value}" to ${s.path} failed${code ? ` (${code})` : ''}`, {
    device: s.device,
    path: s.path,
    code,
    errno,
    syscall: 'write',
    fix: code && FIXES[code] ? FIXES[code](s) : 'see dmesg for the kernel message',
    cause: e,
  });
}

export interface RunOptions {
  journal: Journal;
  intent: JournalEntry;
  /** Runs an 'engine' step (a device transition inside a region transition). */
  engine?: (call: 'online' | 'offline', device: string) => Promise<void>;
  /** Retries for EBUSY on memory-block offline, and the delay between them. */
  busyRetries?: number;
  busyDelayMs?: number;
}

export interface StepLog {
  step: number;
  done: 'written' | 'skipped' | 'tolerated';
  detail?: string;
  /** isolate steps: pages newly hard-offlined. */
  count?: number;
}

export async function runPlan(ctx: Context, plan: Plan, o: RunOptions): Promise<StepLog[]> {
  const log: StepLog[] = [];
  // Memory blocks going online or offline are the long part an operator waits for.
  const isBlock = (s: Step): s is SysfsStep => s.kind === 'sysfs' && s.attr === 'state';
  const blocks = plan.steps.filter(isBlock).length;
  let blocksDone = 0;
  for (let i = 0; i < plan.steps.length; i++) {
    const s = plan.steps[i];
    // Durable before the first write, then once per phase (7 block onlines are one phase):
    // recovery re-plans from the kernel's state and needs only op and device, the step is for
    // the operator's message, and each record costs two fsyncs.
    if (i === 0 || phaseOf(s) !== phaseOf(plan.steps[i - 1])) o.journal.write({...o.intent, step: i, total: plan.steps.length, at: where(s)} as JournalEntry);
    log.push({step: i, ...(await runStep(ctx, s, o))});
    if (isBlock(s)) ctx.progress?.(s.device, s.value === 'offline' ? 'offline' : 'online', ++blocksDone, blocks);
    if (s.mark) ctx.afterStep?.(s.mark);
  }
  return log;
}

function phaseOf(s: Step): string {
  return s.kind === 'sysfs' ? `sysfs ${s.attr}` : s.kind === 'engine' ? `engine ${s.call} ${s.device}` : s.kind;
}

function where(s: Step): string {
  switch (s.kind) {
    case 'sysfs':
    case 'native':
      return s.path;
    case 'modprobe':
      return `modprobe ${s.module}`;
    case 'engine':
      return `${s.call} ${s.device}`;
    case 'verify':
      return s.what;
    case 'isolate':
      return `isolate 0x${s.range.start.toString(16)}+0x${s.range.size.toString(16)}`;
    case 'hotplug-restore':
      return `auto_online_blocks=${s.policy}`;
  }
}

async function runStep(ctx: Context, s: Step, o: RunOptions): Promise<Omit<StepLog, 'step'>> {
  switch (s.kind) {
    case 'verify':
      return {done: 'skipped', detail: 'verified after the run'};
    case 'modprobe': {
      if (ctx.sysfs.exists(s.present)) return {done: 'skipped', detail: `${s.module} is loaded`};
      if (!ctx.modules) {
        throw new KernelError(`the ${s.module} module is not loaded`, {device: s.device, fix: `modprobe ${s.module}: ${MODULE_PURPOSE[s.module] ?? 'daxram needs it'}`});
      }
      ctx.modules.ensure(s.module, s.device);
      ctx.log.info(`${s.device}: loaded the ${s.module} module`);
      return {done: 'written'};
    }
    case 'native':
      await zero(ctx, s);
      return {done: 'written'};
    case 'hotplug-restore': {
      const others = restoreHotplug(ctx, s.policy, new Set([...s.before, ...s.ours]));
      return {done: 'written', detail: others.length ? `onlined other hot-added block(s): ${others.join(' ')}` : undefined};
    }
    case 'isolate': {
      const n = await runIsolate(ctx, s, o);
      return {done: n ? 'written' : 'skipped', count: n, detail: `${n} of ${s.pages} page(s) newly ${s.how}-offlined`};
    }
    case 'engine': {
      if (!o.engine) throw new Error(`no engine runner for ${s.call}`);
      const dev = s.resolveDevice ? s.resolveDevice() : s.device;
      await o.engine(s.call, dev);
      return {done: 'written', detail: dev};
    }
    case 'sysfs': {
      const resolve = (fresh: boolean) => {
        if (!s.resolve) return;
        const r = s.resolve(fresh);
        s.objectDir = r.objectDir;
        s.object = r.object;
        s.path = `${r.objectDir}/${s.attr}`;
        if (r.value !== undefined) s.value = r.value;
      };
      resolve(false);
      const why = s.readOnRefusal ? undefined : skipReason(ctx, s);
      if (why) return {done: 'skipped', detail: why};
      s.guard?.();
      const retries = s.attr === 'state' && s.value === 'offline' ? o.busyRetries ?? 5 : 0;
      for (let attempt = 0, vanished = 0; ; attempt++) {
        try {
          ctx.sysfs.writeAttr(s.objectDir, s.object, s.attr, s.value);
          return {done: 'written'};
        } catch (e) {
          const code = errnoName(e);
          if (s.retryVanished && vanished < 5 && (code === 'ENOENT' || code === 'ENODEV' || e instanceof PathValidationError)) {
            vanished++;
            ctx.log.warn(`${s.device}: ${s.object} went away before ${s.attr} was written (${code ?? 'gone'}); re-reading the seed, retry ${vanished}/5`);
            await new Promise((r) => setTimeout(r, 200 * vanished));
            resolve(true);
            continue;
          }
          if (s.tolerate && code && s.tolerate.includes(code)) return {done: 'tolerated', detail: code};
          // A racing writer (udev rule, auto-online) may have done it: re-read before failing.
          const now = skipReason(ctx, s);
          if (now) return {done: 'skipped', detail: `${now} (after ${code})`};
          if (code === 'EBUSY' && attempt < retries) {
            ctx.log.warn(`${s.device}: ${s.object} busy going offline, retry ${attempt + 1}/${retries}`);
            await new Promise((r) => setTimeout(r, (o.busyDelayMs ?? 250) * (attempt + 1)));
            continue;
          }
          throw kernelFailure(e, s);
        }
      }
    }
  }
}

/** Read before write: the step's target gone, its attribute already so, or its own check. */
function skipReason(ctx: Context, s: SysfsStep): string | undefined {
  if (s.gone && !ctx.sysfs.exists(s.gone.path)) return s.gone.why;
  if (s.already !== undefined && (ctx.sysfs.readOptional(s.path) ?? '').trim() === s.value.trim()) return s.already;
  return s.skip?.();
}

const CHUNK = 64n << 20n;

async function zero(ctx: Context, s: NativeStep): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(ctx.sysfs.p(s.path), fs.constants.O_RDWR);
  } catch (e) {
    throw new KernelError(`cannot open ${s.path} to zero it: ${(e as Error).message}`, {device: s.device, path: s.path, syscall: 'open', cause: e, fix: `${s.device} must be bound to device_dax; check daxram list`});
  }
  try {
    // Chunks are whole multiples of the device's align so every mmap offset is legal.
    const align = s.align > 0n ? s.align : 4096n;
    const chunk = CHUNK > align ? (CHUNK / align) * align : align;
    for (let off = s.offset; off < s.offset + s.length; off += chunk) {
      const len = off + chunk > s.offset + s.length ? s.offset + s.length - off : chunk;
      try {
        await ctx.native.zeroDax(fd, off, len);
      } catch (e) {
        throw new KernelError(`zeroing ${s.path} at offset ${off} failed: ${(e as Error).message}`, {device: s.device, path: s.path, syscall: (e as DaxramError).syscall ?? 'mmap', cause: e});
      }
      ctx.progress?.(s.device, 'zero', Number(off + len - s.offset), Number(s.length));
    }
  } finally {
    fs.closeSync(fd);
  }
}

// tracefs instances of daxram's own: the CXL poison list (read once, scrub/cxl.ts) and the CXL
// media-error events daxramd follows (daxramd/ras.ts) arrive as trace events. A private instance
// has its own buffer and its own enabled events, so daxram neither depends on nor disturbs
// anyone else's tracing (rasdaemon included: it reads the top-level buffer).

import * as fs from 'node:fs';
import type {Sysfs} from './sysfs';
import {errnoName, KernelError} from './errors';

export const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** Where tracefs is mounted (its instances directory exists), or undefined. */
export function tracefsDir(sysfs: Sysfs): string | undefined {
  return TRACEFS.find((d) => sysfs.exists(`${d}/instances`));
}

/**
 * The instance `name` (made if absent) with `events` (system/event) enabled; its kernel path.
 * Throws KernelError naming `who` when tracefs is not mounted or an event does not exist.
 */
export function openInstance(sysfs: Sysfs, name: string, events: string[], who: string, mount?: (where: string) => void): string {
  let tfs = tracefsDir(sysfs);
  if (!tfs && mount) {
    mount(TRACEFS[0]);
    tfs = tracefsDir(sysfs);
  }
  if (!tfs) {
    throw new KernelError('tracefs is not mounted: CXL poison lists and media errors arrive as trace events', {
      device: who,
      fix: 'mount -t tracefs nodev /sys/kernel/tracing (systemd does it at boot: sys-kernel-tracing.mount)',
    });
  }
  const inst = `${tfs}/instances/${name}`;
  try {
    fs.mkdirSync(sysfs.p(inst));
  } catch (e) {
    if (errnoName(e) !== 'EEXIST') throw new KernelError(`cannot create the tracefs instance ${inst}: ${(e as Error).message}`, {path: inst, cause: e});
  }
  try {
    for (const ev of events) {
      const dir = `${inst}/events/${ev}`;
      if (!sysfs.exists(dir)) throw new KernelError(`the kernel has no ${ev} trace event`, {device: who, path: dir, fix: 'CXL poison lists need a kernel of 6.4 or later, media-error events with host addresses 6.9 or later'});
      sysfs.writeAttr(dir, ev.split('/')[1], 'enable', '1');
    }
  } catch (e) {
    closeInstance(sysfs, inst);
    throw e;
  }
  return inst;
}

/** Remove an instance (its events go with it); one still open elsewhere is left for later. */
export function closeInstance(sysfs: Sysfs, inst: string): void {
  try {
    fs.rmdirSync(sysfs.p(inst));
  } catch {
    /* a reader still has it open */
  }
}

/** "name=value" fields of a trace line after `event:`, or undefined when the line is not that event. */
export function traceFields(line: string, event: string): Record<string, string> | undefined {
  const i = line.indexOf(`${event}:`);
  if (i < 0) return undefined;
  const f: Record<string, string> = {};
  // Quoted values ('UNCORRECTABLE_EVENT|THRESHOLD_EVENT', 'ECC Error') keep their spaces.
  for (const m of line.slice(i + event.length + 1).matchAll(/(\w+)=(?:'([^']*)'|(\S*))/g)) f[m[1]] = m[2] ?? m[3];
  return f;
}

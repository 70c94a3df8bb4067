// The runtime RAS loop: media errors a CXL device reports after its memory went online. The
// kernel traces them (cxl_general_media, cxl_dram) with the host physical address; daxramd
// follows them in a tracefs instance of its own (its trace_pipe on the event loop) and, for
// memory it manages, takes the page out of use through the engine (lock, journal, verified by
// kpageflags and HardwareCorrupted):
//   - uncorrectable (the data is lost): hard-offlined (memory_failure: users of the page are
//     signalled, as the kernel does for a machine check);
//   - a corrected-error threshold (the data is still good, the media is failing): soft-offlined
//     (the content migrates to another page first);
//   with `[daemon] media-errors = report`, both are logged and counted and the page left in use
//   (the operator's tooling decides);
//   - anything else, and events for memory daxramd does not manage (another tool's, the
//     kernel's own, devdax): counted and logged, nothing changed. rasdaemon reads the
//     top-level trace buffer, not this instance: both see every event, and only daxramd acts
//     on the memory it onlined (rasdaemon's own page offlining, where enabled, works from its
//     corrected-error counts and may take the same page: the engine skips pages already taken).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Sysfs} from '../sysfs';
import {writeAtomic} from '../util/atomic';
import {PAGE, type Range} from '../util/ranges';
import {describeError} from '../errors';
import {closeInstance, openInstance} from '../tracefs';
import {MEDIA_EVENTS, mediaSeverity, parseMediaEvent, type CxlMediaEvent} from '../model/cxl/events';
import type {IsolateHow} from '../engine';
import type {Metrics} from './metrics';
import type {DaemonLog} from './log';

const INSTANCE = 'daxram-ras';
/** The counts, kept in the state directory so a restart does not forget what the box has been through. */
export const RAS_FILE = 'ras.json';

export interface RasDeps {
  sysfs: Sysfs;
  stateDir: string;
  /** The System RAM dax device daxramd manages that holds `hpa`, if any. */
  managedRamAt(hpa: bigint): string | undefined;
  /** The engine's isolate transition; resolves with the pages newly taken. */
  isolate(device: string, ranges: Range[], how: IsolateHow): Promise<{pages: number}>;
  /** [daemon] media-errors: take the page out of use (offline, the default) or only report it. */
  mediaErrors(): 'offline' | 'report';
  metrics: Metrics;
  log: DaemonLog;
}

export type RasAction = 'hard-offline' | 'soft-offline' | 'reported' | 'failed' | 'not-managed' | 'unmapped' | 'logged';

export class RasLoop {
  /** Events seen and pages taken, across restarts (ras.json), for STATUS. */
  readonly seen = {events: 0, hard: 0, soft: 0};
  private inst?: string;

  constructor(private readonly d: RasDeps) {
    const file = path.join(d.stateDir, RAS_FILE);
    try {
      const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      for (const k of ['events', 'hard', 'soft'] as const) {
        if (!Number.isSafeInteger(j[k]) || (j[k] as number) < 0) throw new Error(`"${k}" is not a count`);
        this.seen[k] = j[k] as number;
      }
    } catch (e) {
      // Only counts: a broken file is said and started again, never a reason to stop.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') d.log.warn(`${file} unreadable (${(e as Error).message}): media-error counts start again`);
      this.seen.events = this.seen.hard = this.seen.soft = 0;
    }
  }

  /** The instance's trace_pipe (kernel path) once the events are enabled; undefined when the kernel has none. */
  open(): string | undefined {
    if (this.inst) return `${this.inst}/trace_pipe`;
    try {
      this.inst = openInstance(this.d.sysfs, INSTANCE, [...MEDIA_EVENTS], 'cxl');
      this.d.log.info(`following CXL media-error events (${MEDIA_EVENTS.join(', ')}) in ${this.inst}`);
      return `${this.inst}/trace_pipe`;
    } catch (e) {
      this.d.log.debug(`CXL media-error events not followed: ${describeError(e)}`);
      return undefined;
    }
  }

  close(): void {
    if (this.inst) closeInstance(this.d.sysfs, this.inst);
    this.inst = undefined;
  }

  /** The media-error events among trace lines. */
  parse(lines: string[]): CxlMediaEvent[] {
    return lines.map(parseMediaEvent).filter((e): e is CxlMediaEvent => e !== undefined);
  }

  async handle(ev: CxlMediaEvent): Promise<RasAction> {
    const severity = mediaSeverity(ev);
    const where = `${ev.event} ${ev.log} DPA 0x${ev.dpa.toString(16)}${ev.hpa !== undefined ? ` = HPA 0x${ev.hpa.toString(16)} (${ev.region})` : ''}: ${ev.descriptor.join('|') || 'no descriptor flags'}, ${ev.type}`;
    const action = await this.act(ev, severity, where);
    this.seen.events++;
    this.d.metrics.mediaEvents.inc({memdev: ev.memdev, severity, action});
    try {
      writeAtomic(path.join(this.d.stateDir, RAS_FILE), `${JSON.stringify(this.seen)}\n`);
    } catch (e) {
      this.d.log.warn(`could not keep the media-error counts: ${(e as Error).message}`);
    }
    return action;
  }

  private async act(ev: CxlMediaEvent, severity: ReturnType<typeof mediaSeverity>, where: string): Promise<RasAction> {
    const {log} = this.d;
    if (ev.hpa === undefined) {
      log.warn(`${where}: no region maps it; nothing in RAM to take`, ev.memdev);
      return 'unmapped';
    }
    const device = this.d.managedRamAt(ev.hpa);
    if (!device) {
      log.warn(`${where}: not in System RAM daxramd manages; left to the kernel and rasdaemon`, ev.memdev);
      return 'not-managed';
    }
    if (severity === 'informational') {
      log.notice(`${where}: in ${device}; no action (neither uncorrectable nor a threshold)`, ev.memdev);
      return 'logged';
    }
    const how: IsolateHow = severity === 'uncorrectable' ? 'hard' : 'soft';
    const page = ev.hpa - (ev.hpa % PAGE);
    if (this.d.mediaErrors() === 'report') {
      log.warn(`${where}: page 0x${page.toString(16)} of ${device} left in use (media-errors = report; media-errors = offline would ${how}-offline it)`, ev.memdev);
      return 'reported';
    }
    try {
      const r = await this.d.isolate(device, [{start: page, size: PAGE}], how);
      this.seen[how] += r.pages;
      if (how === 'hard') this.d.metrics.poisonIsolated.inc({device}, r.pages);
      else this.d.metrics.softOfflined.inc({device}, r.pages);
      log.warn(`${where}: page 0x${page.toString(16)} of ${device} ${how}-offlined${r.pages ? '' : ' (already taken)'}`, ev.memdev);
      return how === 'hard' ? 'hard-offline' : 'soft-offline';
    } catch (e) {
      this.d.metrics.failure(device, `${how}-offline`);
      log.error(`${where}: could not ${how}-offline page 0x${page.toString(16)} of ${device}: ${describeError(e)}`, ev.memdev);
      return 'failed';
    }
  }

  /** For STATUS, once anything was seen. */
  summary(): string | undefined {
    if (!this.seen.events) return undefined;
    return `CXL media errors: ${this.seen.events} event(s); page(s) hard-offlined ${this.seen.hard}, soft-offlined ${this.seen.soft}`;
  }
}

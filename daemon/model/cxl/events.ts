// CXL media-error events as the kernel traces them (cxl_general_media, cxl_dram: the device's
// General Media and DRAM event records, read from its event logs when it signals them). Each
// carries the device physical address and, since 6.9 when a region maps it, the host physical
// address the kernel decoded (hpa=, region=). The descriptor says what the error was:
// UNCORRECTABLE_EVENT (the data is lost), THRESHOLD_EVENT (a corrected-error count crossed the
// device's threshold: the data is still good), POISON_LIST_OVERFLOW_EVENT.

import {traceFields} from '../../tracefs';

/** The trace events daxramd follows (system/event, as tracefs names them). */
export const MEDIA_EVENTS = ['cxl/cxl_general_media', 'cxl/cxl_dram'] as const;

export interface CxlMediaEvent {
  event: 'cxl_general_media' | 'cxl_dram';
  memdev: string;
  /** The event log the record came from: Informational, Warning, Failure, Fatal. */
  log: string;
  dpa: bigint;
  /** Host physical address and region, when a region maps the DPA. */
  hpa?: bigint;
  region?: string;
  /** Descriptor flags, as named by the kernel. */
  descriptor: string[];
  type: string;
}

const UNMAPPED = (1n << 64n) - 1n;

/** The kernel prints these addresses as bare hex (%llx); tolerate a 0x too. */
function hex(v: string | undefined): bigint | undefined {
  if (!v || !/^(0x)?[0-9a-f]+$/i.test(v)) return undefined;
  return BigInt(v.startsWith('0x') ? v : `0x${v}`);
}

/** One media-error event line of a trace buffer, or undefined for any other line. */
export function parseMediaEvent(line: string): CxlMediaEvent | undefined {
  for (const event of ['cxl_general_media', 'cxl_dram'] as const) {
    const f = traceFields(line, event);
    if (!f) continue;
    const dpa = hex(f.dpa);
    if (!f.memdev || dpa === undefined) return undefined;
    const ev: CxlMediaEvent = {event, memdev: f.memdev, log: f.log ?? '', dpa, descriptor: (f.descriptor ?? '').split('|').filter(Boolean), type: f.type ?? ''};
    const hpa = hex(f.hpa);
    if (hpa !== undefined && hpa !== UNMAPPED && f.region) {
      ev.hpa = hpa;
      ev.region = f.region;
    }
    return ev;
  }
  return undefined;
}

/** What the record says about the data: lost, still good but failing, or neither. */
export function mediaSeverity(ev: CxlMediaEvent): 'uncorrectable' | 'threshold' | 'informational' {
  if (ev.descriptor.includes('UNCORRECTABLE_EVENT')) return 'uncorrectable';
  if (ev.descriptor.includes('THRESHOLD_EVENT')) return 'threshold';
  return 'informational';
}

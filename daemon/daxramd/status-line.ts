// daxramd's one-line state, as STATUS= (systemctl status), the journal's "ready:" line and
// `daxramd --once` print it. Tests and operators grep it ("RAM: dax0.0 7/7 online"): its parts
// and their order are an interface.

import type {DeviceReport} from './reconcile';

export interface StatusFacts {
  /** The last reconcile's reports. */
  reports: DeviceReport[];
  /** Devices found in RAM unchecked and adopted, and what was found. */
  adopted: Map<string, string>;
  /** Poisoned pages isolated so far, per device. */
  isolated: Map<string, number>;
  /** The CXL media-error loop's summary, if it has anything to say. */
  ras?: string;
  configRejected: boolean;
  retiredReservations: number;
  /** Why daxramd changes nothing now (operator records unreadable …). */
  still?: string;
}

export function statusLine(f: StatusFacts): string {
  const r = f.reports;
  const managed = r.filter((x) => x.desired);
  const ram = managed.filter((x) => x.state.mode === 'system-ram');
  const failed = r.filter((x) => x.action === 'failed' || x.action === 'refused');
  const parts = [`${managed.length}/${r.length} device(s) managed`];
  if (ram.length) parts.push(`RAM: ${ram.map((x) => `${x.device} ${x.actual.replace('system-ram ', '')} node ${x.node}`).join(', ')}`);
  const dd = managed.filter((x) => x.state.mode === 'devdax');
  if (dd.length) parts.push(`devdax: ${dd.map((x) => x.device).join(', ')}`);
  if (f.adopted.size) parts.push(`adopted: ${[...f.adopted].map(([d, why]) => `${d} (${why})`).join(', ')}`);
  if (f.isolated.size) parts.push(`poison isolated: ${[...f.isolated].map(([d, n]) => `${d} ${n} page(s)`).join(', ')}`);
  if (f.ras) parts.push(f.ras);
  if (failed.length) parts.push(`FAILED: ${failed.map((x) => x.device).join(', ')}`);
  if (f.configRejected) parts.push('config rejected, previous kept');
  if (f.retiredReservations) parts.push(`${f.retiredReservations} retired reservation(s) still enforced`);
  if (f.still) parts.push(`CHANGING NOTHING: ${f.still}`);
  return parts.join('; ');
}

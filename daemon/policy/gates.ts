// The gates a device passes before its capacity is handed to the page allocator. Each gate is
// one policy setting, each result is reported in the plan whether it passes or not, and a
// refusal names the device, the reason and the setting that would change it.

import type {DaxDevice} from '../model/types';
import {PAGE, pagesOf} from '../util/ranges';
import type {Policy} from './settings';
import type {DimmSecurity, MceReport, PoisonReport} from './sources';
import {PolicyError} from '../errors';
import {humanSize} from '../util/size';

export type GateName = 'reserved' | 'poison-scan' | 'residual-poison' | 'mce-recovery' | 'dimm-security' | 'zone-balance';
/** split: the zone-balance gate onlines some blocks into Normal instead of Movable. */
export type Verdict = 'pass' | 'warn' | 'refuse' | 'isolate' | 'split';

export interface GateResult {
  gate: GateName;
  /** The policy setting that decided, as "key=value". */
  setting: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
  /** For isolate: the 4 KiB pages (physical addresses) to hard-offline after online. */
  pages?: bigint[];
}

export interface GateInput {
  dev: Pick<DaxDevice, 'name' | 'origin'>;
  policy: Policy;
  poison: PoisonReport;
  mce: MceReport;
  security: DimmSecurity[];
  /** Bus provider (ACPI.NFIT, nfit_test.0 …), when the device comes from an NVDIMM bus. */
  provider?: string;
  /** Namespace and dax info-block uuids, when known, for reservations by uuid. */
  uuids?: string[];
}


export function evaluateGates(i: GateInput): GateResult[] {
  return [reservedGate(i), scanGate(i), poisonGate(i), mceGate(i), securityGate(i)];
}

/** Exported alone for the CLI, which asks it before it records an operator intent. */
export function reservedGate({dev, policy, provider, uuids}: Pick<GateInput, 'dev' | 'policy' | 'provider' | 'uuids'>): GateResult {
  const setting = `reserved=[${policy.reserved.join(',')}]`;
  const hit = reservationOf(policy, [dev.name, dev.origin.region, ...(uuids ?? [])]);
  if (hit) {
    return {gate: 'reserved', setting, verdict: 'refuse', detail: `${dev.name} is reserved (${hit.by}): never onlined`, fix: hit.fix};
  }
  // nfit_test's "physical" addresses are made up over vmalloc memory: onlining them corrupts the host.
  if (provider?.startsWith('nfit_test')) {
    return {gate: 'reserved', setting: 'built-in', verdict: 'refuse', detail: `${dev.name} is on the ${provider} emulator bus, whose addresses are not real memory`, fix: 'use a real or QEMU-emulated NVDIMM'};
  }
  return {gate: 'reserved', setting, verdict: 'pass', detail: 'not reserved'};
}

/** Was the range scanned for poison at all, or only checked against what the kernel knows? */
function scanGate({dev, policy, poison}: GateInput): GateResult {
  const setting = `unscanned=${policy.unscanned}`;
  if (poison.scrubSupported) return {gate: 'poison-scan', setting, verdict: 'pass', detail: `scanned: ${poison.source}`};
  const detail = `${dev.name} cannot be scanned for poison (${poison.source}); only poison the kernel already recorded is checked`;
  if (policy.unscanned === 'refuse') return {gate: 'poison-scan', setting, verdict: 'refuse', detail, fix: 'set unscanned=warn to accept memory that cannot be scanned'};
  return {gate: 'poison-scan', setting, verdict: 'warn', detail};
}

function poisonGate({dev, policy, poison}: GateInput): GateResult {
  const setting = `poison=${policy.poison}`;
  const base = poison.scrubSupported || /scrub/.test(poison.source) ? poison.source : `${poison.source}, no address range scrub`;
  if (poison.remaining.length === 0) {
    const cleared = poison.cleared.length ? `; ${poison.cleared.length} range(s) cleared` : '';
    return {gate: 'residual-poison', setting, verdict: 'pass', detail: `no residual poison (${base}${cleared})`};
  }
  const pages = poisonPages(poison.remaining);
  const where = poison.remaining.map((r) => `0x${r.start.toString(16)}+${r.size}`).join(', ');
  if (policy.poison === 'online-and-isolate') {
    return {gate: 'residual-poison', setting, verdict: 'isolate', detail: `${pages.length} poisoned page(s) at ${where} will be hard-offlined after online (${base})`, pages};
  }
  return {
    gate: 'residual-poison',
    setting,
    verdict: 'refuse',
    detail: `${dev.name} still has poison at ${where} (${pages.length} page(s), ${humanSize(BigInt(pages.length) * PAGE)}) after scrub (${base})`,
    fix: `clear it (daxram clear ${dev.name}), or set poison=online-and-isolate to online and hard-offline exactly those pages`,
  };
}

function mceGate({policy, mce}: GateInput): GateResult {
  const setting = `mce-recovery=${policy.mceRecovery}`;
  if (mce.serP === true) return {gate: 'mce-recovery', setting, verdict: 'pass', detail: `CPU reports MCG_CAP.SER_P (${mce.source})`};
  const what = mce.serP === false ? 'CPU lacks machine-check recovery (MCG_CAP.SER_P clear)' : `machine-check recovery (SER_P) unknown: ${mce.source}`;
  const conseq = 'a poisoned line consumed by the kernel or a process would panic the machine';
  if (policy.mceRecovery === 'warn') return {gate: 'mce-recovery', setting, verdict: 'warn', detail: `${what}; ${conseq}`};
  return {gate: 'mce-recovery', setting, verdict: 'refuse', detail: `${what}; ${conseq}`, fix: 'set mce-recovery=warn to accept the risk'};
}

function securityGate({policy, security}: GateInput): GateResult {
  const setting = `security=${policy.security}`;
  if (security.length === 0) return {gate: 'dimm-security', setting, verdict: 'pass', detail: 'no NVDIMMs behind this device'};
  const open = security.filter((s) => s.state !== 'unlocked');
  if (open.length === 0) return {gate: 'dimm-security', setting, verdict: 'pass', detail: `security enabled on ${security.map((s) => s.dimm).join(', ')}`};
  const detail = `security not enabled on ${open.map((s) => `${s.dimm} (${s.state})`).join(', ')}: RAM contents would persist unencrypted across power-off`;
  if (policy.security === 'ignore') return {gate: 'dimm-security', setting, verdict: 'pass', detail: `${detail} (ignored)`};
  if (policy.security === 'refuse') return {gate: 'dimm-security', setting, verdict: 'refuse', detail, fix: 'enable DIMM security (ndctl setup-passphrase), or set security=warn'};
  return {gate: 'dimm-security', setting, verdict: 'warn', detail};
}

/** Every 4 KiB page any poisoned range touches (util/ranges pagesOf). */
export const poisonPages = pagesOf;

/** The reservation naming any of `names` (device, region, uuid), with where it comes from. */
export function reservationOf(policy: Policy, names: Array<string | undefined>): {entry: string; by: string; fix: string} | undefined {
  const wanted = new Set(names.filter((n): n is string => !!n).map((n) => n.toLowerCase()));
  const entry = policy.reserved.find((r) => wanted.has(r.toLowerCase()));
  if (entry === undefined) return undefined;
  const from = policy.reservedBy?.[entry];
  return from
    ? {entry, by: `by ${from}`, fix: `change its mode in ${from} if it may become RAM (daxram config check shows the result)`}
    : {entry, by: `by "${entry}"`, fix: `remove "${entry}" from the reserved list (--reserve) if it may become RAM`};
}

/** Throws PolicyError for the first refusal; returns the results otherwise. */
export function enforceGates(device: string, results: GateResult[]): GateResult[] {
  const no = results.find((r) => r.verdict === 'refuse');
  if (no) throw new PolicyError(`refused by the ${no.gate} gate: ${no.detail}`, {device, fix: no.fix, code: `GATE_${no.gate.toUpperCase().replace(/-/g, '_')}`});
  return results;
}

// Policy settings for the gates a range passes before it reaches the page allocator. Every
// default is the safe choice; loosening one is an explicit operator decision.

import {UsageError} from '../errors';

export type PoisonPolicy = 'refuse' | 'online-and-isolate';
export type MceRecoveryPolicy = 'refuse' | 'warn';
export type SecurityPolicy = 'warn' | 'refuse' | 'ignore';
export type UnscannedPolicy = 'warn' | 'refuse';
export type MemmapPolicy = 'device' | 'dram';

export interface Policy {
  /** Residual poison after the scrub: refuse the device, or online it and hard-offline exactly those pages. */
  poison: PoisonPolicy;
  /** CPU machine-check recovery (MCG_CAP.SER_P) unknown or absent: a consumed poison line would panic. */
  mceRecovery: MceRecoveryPolicy;
  /** DIMM security (encryption at rest) not enabled: RAM contents would persist in the clear. */
  security: SecurityPolicy;
  /**
   * Memory daxram cannot scan for poison (soft-reserved ranges; buses without ARS such as e820
   * and QEMU's NFIT): only what the kernel already knows is checked.
   */
  unscanned: UnscannedPolicy;
  /**
   * Struct pages of the memory onlined: on the device itself where the kernel allows it
   * (memory_hotplug.memmap_on_memory, 6.8+), or in DRAM. docs/design.md argues the default.
   */
  memmap: MemmapPolicy;
  /** Devices, regions or namespace uuids that are never onlined (nor destroyed by reassign). */
  reserved: string[];
  /** Where a reserved entry came from, e.g. "/etc/daxram/daxram.conf:12 [device trace]". */
  reservedBy?: Record<string, string>;
}

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  poison: 'refuse',
  mceRecovery: 'refuse',
  security: 'warn',
  unscanned: 'warn',
  memmap: 'device',
  reserved: [],
});

const CHOICES: Record<string, readonly string[]> = {
  poison: ['refuse', 'online-and-isolate'],
  mceRecovery: ['refuse', 'warn'],
  security: ['warn', 'refuse', 'ignore'],
  unscanned: ['warn', 'refuse'],
  memmap: ['device', 'dram'],
};

/** A policy with overrides checked against the allowed values. */
export function makePolicy(over: Partial<Record<keyof Policy, unknown>> = {}): Policy {
  const p: Policy = {...DEFAULT_POLICY, reserved: [...DEFAULT_POLICY.reserved]};
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    if (k === 'reserved') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new UsageError('policy reserved: expected a list of device, region or uuid names');
      p.reserved = v as string[];
      continue;
    }
    const allowed = CHOICES[k];
    if (!allowed) throw new UsageError(`unknown policy setting "${k}"`, {fix: `settings: ${Object.keys(CHOICES).join(', ')}, reserved`});
    if (typeof v !== 'string' || !allowed.includes(v)) {
      throw new UsageError(`policy ${k}: "${String(v)}" is not one of ${allowed.join(', ')}`, {fix: `use --${kebab(k)} ${allowed.join('|')}`});
    }
    (p as unknown as Record<string, string>)[k] = v;
  }
  return p;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

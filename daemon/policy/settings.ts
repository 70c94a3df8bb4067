// Policy settings for the gates a range passes before it reaches the page allocator. Every
// default is the safe choice; loosening one is an explicit operator decision.

import {UsageError} from '../errors';

/** Each gate's choices, the default first: the one list the types, the config parser and the CLI options come from. */
export const GATE_CHOICES = {
  poison: ['refuse', 'online-and-isolate'],
  mceRecovery: ['refuse', 'warn'],
  security: ['warn', 'refuse', 'ignore'],
  unscanned: ['warn', 'refuse'],
  memmap: ['device', 'dram'],
  zoneBalance: ['refuse', 'warn', 'split'],
  cpuless: ['warn', 'refuse', 'allow'],
} as const;
type ChoiceKey = keyof typeof GATE_CHOICES;

export type PoisonPolicy = (typeof GATE_CHOICES.poison)[number];
export type MceRecoveryPolicy = (typeof GATE_CHOICES.mceRecovery)[number];
export type SecurityPolicy = (typeof GATE_CHOICES.security)[number];
export type UnscannedPolicy = (typeof GATE_CHOICES.unscanned)[number];
export type MemmapPolicy = (typeof GATE_CHOICES.memmap)[number];
export type ZoneBalancePolicy = (typeof GATE_CHOICES.zoneBalance)[number];
export type CpulessPolicy = (typeof GATE_CHOICES.cpuless)[number];

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
  /**
   * Movable:Kernel in the whole system after an online, at most zoneRatio:1 (0: no limit). The
   * kernel's memory-hotplug guide calls 3:1 or 4:1 fine and 63:1 impossible, and its own
   * auto-movable online policy defaults to 301%: 3 is that default.
   */
  zoneRatio: number;
  /** Over zoneRatio: refuse the online, warn, or online the excess into Normal (split). */
  zoneBalance: ZoneBalancePolicy;
  /**
   * A CPU-less node left all Movable while neither demotion nor swap is on: only user pages that
   * spill over from the CPU nodes reach it, and none of its memory can serve the kernel.
   */
  cpuless: CpulessPolicy;
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
  zoneRatio: 3,
  zoneBalance: 'refuse',
  cpuless: 'warn',
  reserved: [],
});

/** The settings a rule or a command line can set for one device (every one but the reservations). */
export type GateSettings = Partial<Omit<Policy, 'reserved' | 'reservedBy'>>;

/** The largest zone-ratio accepted: the guide's "impossible" 63:1. */
export const MAX_ZONE_RATIO = 63;

/** A policy: the defaults with these settings over them (typed: validated where they came in). */
export function makePolicy(over: GateSettings & {reserved?: string[]} = {}): Policy {
  const p: Policy = {...DEFAULT_POLICY, reserved: [...(over.reserved ?? DEFAULT_POLICY.reserved)]};
  for (const [k, v] of Object.entries(over)) if (v !== undefined && k !== 'reserved') (p as unknown as Record<string, unknown>)[k] = v;
  return p;
}

/**
 * Gate settings from outside (command-line options), checked once, here: a value not among a
 * gate's choices, a zone-ratio out of range or an unknown setting is a usage error naming it.
 */
export function parseGateSettings(raw: Partial<Record<keyof GateSettings, unknown>>): GateSettings {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (k === 'zoneRatio') {
      out.zoneRatio = parseZoneRatio(v);
      continue;
    }
    const allowed = (GATE_CHOICES as Record<string, readonly string[]>)[k];
    if (!allowed) throw new UsageError(`unknown policy setting "${k}"`, {fix: `settings: ${Object.keys(GATE_CHOICES).join(', ')}, zoneRatio`});
    if (typeof v !== 'string' || !allowed.includes(v)) {
      throw new UsageError(`policy ${k}: "${String(v)}" is not one of ${allowed.join(', ')}`, {fix: `use --${kebab(k)} ${allowed.join('|')}`});
    }
    out[k] = v;
  }
  return out as GateSettings;
}

/** A setting's choices as an option offers them. */
export function choicesOf(k: ChoiceKey): string[] {
  return [...GATE_CHOICES[k]];
}

/** A whole or decimal ratio from 0 (no limit) to MAX_ZONE_RATIO, as a number or its text. */
export function parseZoneRatio(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,2}(\.\d{1,2})?$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > MAX_ZONE_RATIO) {
    throw new UsageError(`policy zone-ratio: "${String(v)}" is not a Movable:Kernel ratio from 0 (no limit) to ${MAX_ZONE_RATIO}`, {fix: 'use e.g. --zone-ratio 3 (the kernel docs: 3:1 or 4:1 are fine)'});
  }
  return n;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

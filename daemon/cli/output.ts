// How the CLI speaks: JSON for machines (--json), short human text otherwise, and errors that
// name the device and the fix. Exit codes: 0 ok, 1 operation failed, 2 bad usage.

import {DaxramError, UsageError} from '../errors';

export interface GlobalArgs {
  json?: boolean;
  root?: string;
  'dry-run'?: boolean;
  dryRun?: boolean;
}

/** JSON with bigints as numbers when safe, else as decimal strings (daxctl prints sizes as numbers). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => {
      if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      return v;
    },
    2,
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}

export function exitCodeFor(e: unknown): number {
  return e instanceof UsageError ? 2 : 1;
}

export function reportError(e: unknown, json: boolean): void {
  if (json) {
    const body = e instanceof DaxramError ? e.toJSON() : {error: 'Error', message: String((e as Error)?.message ?? e)};
    process.stderr.write(toJson(body) + '\n');
    return;
  }
  const text = e instanceof DaxramError ? e.describe() : String((e as Error)?.stack ?? e);
  process.stderr.write(`daxram: ${text}\n`);
}

const UNITS: Array<[string, bigint]> = [
  ['TiB', 1n << 40n],
  ['GiB', 1n << 30n],
  ['MiB', 1n << 20n],
  ['KiB', 1n << 10n],
];

/** 1073741824n → "1.00 GiB" */
export function humanSize(bytes: bigint): string {
  for (const [u, n] of UNITS) {
    if (bytes >= n) return `${(Number((bytes * 100n) / n) / 100).toFixed(2)} ${u}`;
  }
  return `${bytes} B`;
}

const SIZE_RE = /^([0-9]+)([kKmMgGtT])?(i?B)?$/;

/** Operator sizes: "512M", "2G", "1T", "4096" (bytes). Binary units, as ndctl/daxctl use. */
export function parseSize(text: string, what = 'size'): bigint {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw new UsageError(`invalid ${what} "${text}"`, {fix: 'give a number of bytes or use a K, M, G or T suffix, e.g. 512M or 2G'});
  const mult: Record<string, bigint> = {k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n};
  return BigInt(m[1]) * (m[2] ? mult[m[2].toLowerCase()] : 1n);
}

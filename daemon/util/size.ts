// Byte sizes as operators read and write them. Below every layer: the model, the engine, the
// policy and the daemon all explain capacity in the same words the CLI prints.

import {UsageError} from '../errors';

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

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
  // A progress line may be on the terminal: the error starts on a clean line.
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (json) {
    const body = e instanceof DaxramError ? e.toJSON() : {error: 'Error', message: String((e as Error)?.message ?? e)};
    process.stderr.write(toJson(body) + '\n');
    return;
  }
  const text = e instanceof DaxramError ? e.describe() : String((e as Error)?.stack ?? e);
  process.stderr.write(`daxram: ${text}\n`);
}

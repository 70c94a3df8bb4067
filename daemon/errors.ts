// Typed errors. Every error names the object it is about (a device, a region, a path) and,
// where we know one, the fix, so an operator never has to guess what went wrong where.

export interface DaxramErrorInit {
  /** Kernel object the error is about: dax0.0, region1, ndbus0, memory42, /dev/ndctl0 … */
  device?: string;
  /** Filesystem path involved, when there is one. */
  path?: string;
  /** What the operator can do about it. */
  fix?: string;
  /** errno name (EBUSY, ENXIO …) when the kernel said no. */
  code?: string;
  /** errno number when the kernel said no. */
  errno?: number;
  /** The syscall or sysfs operation that failed. */
  syscall?: string;
  cause?: unknown;
}

export class DaxramError extends Error {
  readonly device?: string;
  readonly path?: string;
  readonly fix?: string;
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;

  constructor(message: string, init: DaxramErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : {cause: init.cause});
    this.name = new.target.name;
    this.device = init.device;
    this.path = init.path;
    this.fix = init.fix;
    this.code = init.code ?? codeOf(init.cause);
    this.errno = init.errno ?? errnoOf(init.cause);
    this.syscall = init.syscall ?? syscallOf(init.cause);
  }

  /** One line for humans: "dax0.0: message (EBUSY) — fix: …". */
  describe(): string {
    const who = this.device ?? this.path;
    let s = who ? `${who}: ${this.message}` : this.message;
    if (this.code && !this.message.includes(this.code)) s += ` (${this.code})`;
    if (this.fix) s += `\n  fix: ${this.fix}`;
    return s;
  }

  toJSON(): Record<string, unknown> {
    return {
      error: this.name,
      message: this.message,
      device: this.device,
      path: this.path,
      code: this.code,
      errno: this.errno,
      syscall: this.syscall,
      fix: this.fix,
    };
  }
}

/** sysfs content could not be read or did not parse: the kernel ABI was not what we expect. */
export class SysfsError extends DaxramError {}
/** The object asked for does not exist (a typo, or a device removed under us). */
export class NotFoundError extends DaxramError {}
/** Input from the operator (a name, a size, a config value) is not acceptable. */
export class UsageError extends DaxramError {}
/** A write to sysfs was refused because the path does not belong to the object it was meant for. */
export class PathValidationError extends DaxramError {}
/** The kernel refused an operation (EBUSY, EINVAL, ENXIO, EHWPOISON …). */
export class KernelError extends DaxramError {}
/** A policy gate refused to let a range reach the page allocator. */
export class PolicyError extends DaxramError {}
/** Another daxram process holds the lock. */
export class LockError extends DaxramError {}
/** Configuration did not validate. */
export class ConfigError extends DaxramError {}

function codeOf(e: unknown): string | undefined {
  const c = (e as {code?: unknown} | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}
function errnoOf(e: unknown): number | undefined {
  const n = (e as {errno?: unknown} | undefined)?.errno;
  // Node reports negative errno on fs errors; the kernel ABI number is positive.
  return typeof n === 'number' ? Math.abs(n) : undefined;
}
function syscallOf(e: unknown): string | undefined {
  const s = (e as {syscall?: unknown} | undefined)?.syscall;
  return typeof s === 'string' ? s : undefined;
}


const EHWPOISON = 133;

/**
 * errno name of a failed syscall, ours or Node's, including EHWPOISON (133), which libuv has no
 * name for, and looking through a cause chain.
 */
export function errnoName(e: unknown): string | undefined {
  const err = e as {code?: unknown; errno?: unknown; cause?: unknown};
  const n = typeof err?.errno === 'number' ? Math.abs(err.errno) : undefined;
  if (n === EHWPOISON) return 'EHWPOISON';
  if (typeof err?.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) return err.code;
  if (err?.cause) return errnoName(err.cause);
  return undefined;
}

/** A transition that did not start because daxramd is stopping or its grounds changed (ECANCELED): nothing to report as a failure. */
export function isCancelled(e: unknown): boolean {
  return (e as {code?: unknown} | undefined)?.code === 'ECANCELED';
}

/** Any error as one log line: a DaxramError's describe() (device, code, fix) without its line breaks. */
export function describeError(e: unknown): string {
  return e instanceof DaxramError ? e.describe().replace(/\n\s*/g, ' ') : String((e as Error)?.message ?? e);
}

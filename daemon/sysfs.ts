// The one door to sysfs. Reads are tolerant of a root prefix so every model and engine test can
// run against a fixture tree; writes are validated against the kernel object they are meant for,
// because a wrong path here means writing "offline" to the wrong memory or unbinding the wrong
// device.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {KernelError, PathValidationError, SysfsError} from './errors';

const ATTR_RE = /^[a-z0-9_]+(\/[a-z0-9_]+)?$/;

export class Sysfs {
  /** Absolute root every kernel path is resolved under: "/" on a real system. */
  readonly root: string;

  constructor(root = '/') {
    this.root = path.resolve(root);
  }

  /** Host path of a kernel path such as "/sys/bus/dax/devices". */
  p(kernelPath: string): string {
    return this.root === '/' ? kernelPath : path.join(this.root, kernelPath);
  }

  /** Kernel path of a host path (inverse of p()). */
  unroot(hostPath: string): string {
    if (this.root === '/') return hostPath;
    const rel = path.relative(this.root, hostPath);
    return '/' + rel;
  }

  exists(kernelPath: string): boolean {
    return fs.existsSync(this.p(kernelPath));
  }

  /** Attribute content with the trailing newline removed. Throws SysfsError naming the path. */
  read(kernelPath: string, device?: string): string {
    try {
      return stripNl(fs.readFileSync(this.p(kernelPath), 'utf8'));
    } catch (e) {
      throw new SysfsError(`cannot read ${kernelPath}: ${(e as Error).message}`, {
        path: kernelPath,
        device,
        cause: e,
      });
    }
  }

  /** Like read(), but an absent attribute (ENOENT) is undefined: older kernels lack some. */
  readOptional(kernelPath: string, device?: string): string | undefined {
    try {
      return stripNl(fs.readFileSync(this.p(kernelPath), 'utf8'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      // Some attributes exist but refuse reads (ENXIO on an idle device, EOPNOTSUPP when the
      // firmware lacks a method); the model treats those as "not available".
      if (code === 'ENXIO' || code === 'EOPNOTSUPP' || code === 'ENOTTY') return undefined;
      throw new SysfsError(`cannot read ${kernelPath}: ${(e as Error).message}`, {
        path: kernelPath,
        device,
        cause: e,
      });
    }
  }

  /** Decimal or 0x-hex integer attribute, as a number; must be a safe integer. */
  readInt(kernelPath: string, device?: string): number {
    return parseIntAttr(this.read(kernelPath, device), kernelPath, device);
  }

  /** Decimal or 0x-hex integer attribute as bigint (physical addresses, sizes). */
  readBig(kernelPath: string, device?: string): bigint {
    return parseBigAttr(this.read(kernelPath, device), kernelPath, device);
  }

  /** Basename of a symlink's target (drivers, subsystems), or undefined if there is no link. */
  linkName(kernelPath: string): string | undefined {
    try {
      return path.basename(fs.readlinkSync(this.p(kernelPath)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL' || code === 'ENOTDIR') return undefined;
      throw new SysfsError(`cannot read link ${kernelPath}: ${(e as Error).message}`, {path: kernelPath, cause: e});
    }
  }

  /** Resolved kernel path (symlinks followed), e.g. /sys/bus/dax/devices/dax0.0 → /sys/devices/…/dax0.0 */
  real(kernelPath: string): string {
    try {
      // realpath(3) in one call, not the JS resolver's lstat per component (a tenth of onlining
      // 16 GiB in a TCG guest's profile when every write was checked through here; writes now
      // check the file they open, and this serves validate() and the CXL scan's links).
      return this.unroot(fs.realpathSync.native(this.p(kernelPath)));
    } catch (e) {
      throw new SysfsError(`cannot resolve ${kernelPath}: ${(e as Error).message}`, {path: kernelPath, cause: e});
    }
  }

  /** Directory entries, sorted naturally (dax0.2 before dax0.10); [] when the directory is absent. */
  list(kernelPath: string, re?: RegExp): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.p(kernelPath));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw new SysfsError(`cannot list ${kernelPath}: ${(e as Error).message}`, {path: kernelPath, cause: e});
    }
    if (re) names = names.filter((n) => re.test(n));
    return names.sort(naturalCompare);
  }

  /**
   * Write one attribute of one kernel object. `objectDir` is where the object lives (any path
   * that resolves to it, e.g. /sys/bus/dax/devices/dax0.0) and `name` is the object's kernel name;
   * the write happens only if the file opened really is a regular file directly inside that
   * object (or in one named sub-group such as nfit/scrub), under /sys.
   */
  writeAttr(objectDir: string, name: string, attr: string, value: string): void {
    checkAttrName(attr, name);
    this.writeOpened(`${objectDir}/${attr}`, value, name, (real, isFile) => checkTarget(real, isFile, objectDir, name, attr));
  }

  /** The file writeAttr would write, checked the same way without opening it: for dry-run plans and fixtures. */
  validate(objectDir: string, name: string, attr: string): string {
    checkAttrName(attr, name);
    const file = `${objectDir}/${attr}`;
    let real: string;
    let st: fs.Stats;
    try {
      real = this.unroot(fs.realpathSync.native(this.p(file)));
      st = fs.lstatSync(this.p(file));
    } catch (e) {
      throw new PathValidationError(`refusing to write ${file}: ${(e as Error).message}`, {device: name, path: file, cause: e});
    }
    checkTarget(real, st.isFile(), objectDir, name, attr);
    return real;
  }

  /**
   * Write one sysctl (/proc/sys/<name>, e.g. kernel/numa_balancing). The name is checked for
   * shape and the file opened must be itself under /proc/sys: no other file can be reached.
   */
  writeSysctl(name: string, value: string): void {
    if (!/^[a-z0-9_]+(\/[a-z0-9_]+)+$/.test(name)) throw new PathValidationError(`refusing to write sysctl "${name}": not a sysctl name`, {device: name});
    const file = `/proc/sys/${name}`;
    this.writeOpened(file, value, name, (real, isFile) => {
      if (real !== file || !isFile) throw new PathValidationError(`refusing to write ${file}: it resolves to ${real}`, {device: name, path: file});
    });
  }

  /**
   * Open `file`, let `check` refuse what was opened, then write it: the file opened is the one
   * checked and the one written (one readlink and one fstat; resolving the path first cost
   * realpath(3)'s readlink per component, twice per write, 0.9 s of onlining and offlining 16 GiB
   * twice in a TCG guest's profile, and left a window between the check and the open).
   */
  private writeOpened(file: string, value: string, device: string, check: (real: string, isFile: boolean) => void): void {
    let fd: number;
    try {
      // O_WRONLY only: kernfs refuses O_RDWR on write-only attributes (bind, unbind, new_id); no
      // O_CREAT, so a vanished file is an error, not a new file. O_NOFOLLOW: the file itself is
      // never a link. O_NONBLOCK: a FIFO planted where it should be fails (ENXIO) instead of
      // hanging; kernfs and procfs ignore the flag.
      fd = fs.openSync(this.p(file), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
        throw new PathValidationError(`refusing to write ${file}: ${(e as Error).message}`, {device, path: file, cause: e});
      }
      throw writeFailure(file, value, device, e);
    }
    try {
      const real = this.unroot(fs.readlinkSync(`/proc/self/fd/${fd}`));
      check(real, fs.fstatSync(fd).isFile());
      try {
        fs.writeSync(fd, value);
      } catch (e) {
        throw writeFailure(real, value, device, e);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}

function checkAttrName(attr: string, name: string): void {
  if (!ATTR_RE.test(attr)) throw new PathValidationError(`refusing to write attribute "${attr}": not a sysfs attribute name`, {device: name});
}

/** `real` (the attribute's resolved kernel path) must be `attr` inside the object named `name`, under /sys, and a regular file. */
function checkTarget(real: string, isFile: boolean, objectDir: string, name: string, attr: string): void {
  const dir = real.endsWith(`/${attr}`) ? real.slice(0, -attr.length - 1) : undefined;
  if (dir === undefined || path.posix.basename(dir) !== name || !(dir === '/sys' || dir.startsWith('/sys/'))) {
    throw new PathValidationError(`refusing to write ${objectDir}/${attr}: it resolves to ${real}, not ${attr} of ${name}`, {device: name, path: `${objectDir}/${attr}`});
  }
  if (!isFile) throw new PathValidationError(`refusing to write ${real}: not a plain attribute of ${name}`, {device: name, path: real});
}

function writeFailure(kernelFile: string, value: string, device: string, e: unknown): KernelError {
  const code = (e as NodeJS.ErrnoException).code;
  return new KernelError(`writing "${value}" to ${kernelFile} failed: ${code ?? (e as Error).message}`, {device, path: kernelFile, syscall: 'write', cause: e});
}

export function stripNl(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

const INT_RE = /^(0x[0-9a-fA-F]+|-?[0-9]+)$/;

export function parseIntAttr(raw: string, where: string, device?: string): number {
  const s = raw.trim();
  if (!INT_RE.test(s)) throw new SysfsError(`${where}: expected an integer, got "${raw}"`, {path: where, device});
  const n = s.startsWith('0x') ? parseInt(s, 16) : parseInt(s, 10);
  if (!Number.isSafeInteger(n)) throw new SysfsError(`${where}: integer out of range: "${raw}"`, {path: where, device});
  return n;
}

export function parseBigAttr(raw: string, where: string, device?: string): bigint {
  const s = raw.trim();
  if (!INT_RE.test(s)) throw new SysfsError(`${where}: expected an integer, got "${raw}"`, {path: where, device});
  return BigInt(s);
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * dax0.2 < dax0.10, memory9 < memory10, region1 < region10: runs of digits compare as numbers,
 * everything else by code unit. Not an ICU collator: building one loads ICU's collation data,
 * 10 ms of every CLI run that lists a directory (a third of what 11 names cost to sort).
 */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (!isDigit(ca) || !isDigit(cb)) {
      if (ca !== cb) return ca - cb;
      i++;
      j++;
      continue;
    }
    // Two digit runs: leading zeros skipped, the longer run is the larger number, then digit by
    // digit; equal values with different zero padding: the shorter run first.
    const ra = i;
    const rb = j;
    while (i < a.length && a.charCodeAt(i) === 48) i++;
    while (j < b.length && b.charCodeAt(j) === 48) j++;
    const za = i;
    const zb = j;
    while (i < a.length && isDigit(a.charCodeAt(i))) i++;
    while (j < b.length && isDigit(b.charCodeAt(j))) j++;
    if (i - za !== j - zb) return i - za - (j - zb);
    for (let k = 0; k < i - za; k++) {
      const d = a.charCodeAt(za + k) - b.charCodeAt(zb + k);
      if (d !== 0) return d;
    }
    if (i - ra !== j - rb) return i - ra - (j - rb);
  }
  return a.length - i - (b.length - j);
}

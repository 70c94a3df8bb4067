// Files that are either the old or the new content, never a mix: the journal, the operator
// records, the hot-add hold and the metrics are read by other processes and survive crashes
// and power cuts. What protects memory lives in these files, so a write either lands whole
// or fails loudly, and nobody else can steer it.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface AtomicOptions {
  /** The file's mode, whatever the umask (daxramd runs with UMask=0077). Default 0600. */
  mode?: number;
  /**
   * The directory may belong to another user (node_exporter's textfile directory is the
   * prometheus user's on Debian). Only for public data: the temp file is still created
   * exclusively and never through a symlink, and a rename replaces a link, never follows it.
   */
  sharedDir?: boolean;
}

/** A directory we write state into: root's (or ours), and nobody else may add or swap files in it. */
export function checkDir(dir: string, sharedDir = false): void {
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), {code: 'ENOTDIR', path: dir});
  if (sharedDir) {
    // Others' directories are fine; a world-writable one without the sticky bit is not.
    if ((st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0) throw unsafeDir(dir, 'world-writable without the sticky bit');
    return;
  }
  const euid = process.geteuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== euid) throw unsafeDir(dir, `owned by uid ${st.uid}, not root`);
  if ((st.mode & 0o022) !== 0) throw unsafeDir(dir, `writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`);
}

function unsafeDir(dir: string, why: string): Error {
  return Object.assign(new Error(`refusing to write state into ${dir}: ${why}`), {code: 'EPERM', path: dir});
}

/**
 * Create `dir` and any missing parents 0700 (or `mode`), each made durable in its parent; an
 * existing directory is left as it is.
 */
export function ensureDir(dir: string, mode = 0o700): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      fs.mkdirSync(d, {mode});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      continue; // someone else made it meanwhile
    }
    // mkdir honours the umask; the mode asked for is the one wanted.
    fs.chmodSync(d, mode);
    syncDir(path.dirname(d));
  }
}

/** Write all of `buf` to `fd`: writeSync may write less than asked (a full disk, a signal). */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), {code: 'EIO'});
    off += n;
  }
}

/**
 * Write via a temp file created exclusively in the target's directory (never through a
 * symlink), every byte, fsync'd, renamed over the target, the directory fsync'd. Creates the
 * directory (0700) when missing. On any failure the temp file is removed and the target is
 * untouched.
 */
export function writeAtomic(file: string, data: string | Buffer, opts: AtomicOptions = {}): void {
  const mode = opts.mode ?? 0o600;
  const dir = path.dirname(file);
  ensureDir(dir);
  checkDir(dir, opts.sharedDir);
  const {tmp, fd} = createTemp(dir, path.basename(file), mode);
  try {
    try {
      fs.fchmodSync(fd, mode);
      writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, {force: true});
    throw e;
  }
  syncDir(dir);
}

let tempSeq = 0;

/**
 * A temp file of our own beside the target: created exclusively, never through a link. Unique
 * by pid, time and a counter, not by random bytes: node:crypto costs every start of the
 * programs its compile on runtimes without a builtin code cache (Debian's nodejs). A leftover
 * of a crash under the same name (the pid reused after a reboot) is skipped, not overwritten.
 */
function createTemp(dir: string, base: string, mode: number): {tmp: string; fd: number} {
  const {O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW} = fs.constants;
  for (let tries = 0; ; tries++) {
    const tmp = path.join(dir, `.${base}.${process.pid}.${Date.now().toString(36)}.${++tempSeq}.tmp`);
    try {
      return {tmp, fd: fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)};
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 8) throw e;
    }
  }
}

/** fsync a directory, so a rename or unlink in it is durable. */
export function syncDir(dir: string): void {
  const dfd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

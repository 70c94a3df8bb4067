// Files that are either the old or the new content, never a mix: the journal, the operator
// records and the metrics are read by other processes and survive crashes and power cuts.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Write via a temp file: fsync it, rename over the target, fsync the directory. */
export function writeAtomic(file: string, data: string, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, mode);
  try {
    // The mode asked for, not the one the umask leaves: daxramd runs with UMask=0077, and
    // node_exporter (not root) must be able to read the metrics file.
    fs.fchmodSync(fd, mode);
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, {force: true});
    throw e;
  }
  syncDir(dir);
}

/** fsync a directory, so a rename or unlink in it is durable. */
export function syncDir(dir: string): void {
  const dfd = fs.openSync(dir, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

// One lock for every mutating command, shared by CLI and daemon: flock(2) on /run/daxram/lock.
// The kernel drops a flock when its holder dies, so a SIGKILLed run never leaves a stale lock;
// the pid written into the file is only for the message naming who holds it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {LockError} from '../errors';
import {ensureDir} from '../util/atomic';
import type {Context} from './context';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export interface Held {
  release(): void;
}

export async function acquire(ctx: Context, what: string): Promise<Held> {
  ensureDir(path.dirname(ctx.lockPath));
  const fd = fs.openSync(ctx.lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  const deadline = Date.now() + (ctx.lockWaitMs ?? 0);
  for (;;) {
    try {
      ctx.native.flock(fd, LOCK_EX | LOCK_NB);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EWOULDBLOCK' && code !== 'EAGAIN') {
        fs.closeSync(fd);
        throw new LockError(`cannot lock ${ctx.lockPath}: ${(e as Error).message}`, {path: ctx.lockPath, cause: e});
      }
      if (Date.now() >= deadline) {
        let holder = '';
        try {
          holder = fs.readFileSync(ctx.lockPath, 'utf8').trim();
        } catch {
          /* the message is still useful without the holder */
        }
        fs.closeSync(fd);
        throw new LockError(`another daxram command holds ${ctx.lockPath}${holder ? ` (${holder})` : ''}; not starting ${what}`, {
          path: ctx.lockPath,
          code: 'EWOULDBLOCK',
          fix: 'wait for it to finish (daxramd transitions take seconds to minutes) and run the command again',
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `pid ${process.pid}: ${what}\n`, 0);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        ctx.native.flock(fd, LOCK_UN);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

/**
 * Under the lock but without settling: the kernel's hot-add policy and the tiering switches,
 * written by the boot guard before any driver is loaded and by daxramd around its transitions.
 * They touch no dax device, so an interrupted transition is left for recover; what they must
 * not do is interleave with one (a give-back in the middle of a CLI online).
 */
export async function locked<T>(ctx: Context, what: string, run: () => T | Promise<T>): Promise<T> {
  const held = await acquire(ctx, what);
  try {
    return await run();
  } finally {
    held.release();
  }
}

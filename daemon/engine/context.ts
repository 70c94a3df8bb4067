// What every engine operation runs with. Everything that touches the machine comes in here, so
// the same code drives a real kernel, a fixture tree with an injected fake kernel, or a dry run.

import type {Sysfs} from '../sysfs';
import type {Policy} from '../policy/settings';
import type {PoisonSource, MceSource} from '../policy/sources';
import type {ModuleLoader} from '../kmod';
import type {KillPoint} from './plan';
import type {IntentHook} from './intent';

/** The two syscalls the engine needs from the addon (native/flock.cc; zeroDax in native/addon.cc). */
export interface EngineNative {
  /** flock(2) on an open fd; op is LOCK_SH=1 | LOCK_EX=2 | LOCK_UN=8, optionally | LOCK_NB=4. Throws with .code on failure. */
  flock(fd: number, op: number): void;
  /**
   * Zero [offset, offset+length) of a device-dax chardev opened O_RDWR: MAP_SHARED mapping,
   * non-temporal stores, sfence. offset and length must be multiples of the device's align.
   * Runs off the main thread.
   */
  zeroDax(fd: number, offset: bigint, length: bigint): Promise<unknown>;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  debug?(msg: string): void;
}

export interface Context {
  sysfs: Sysfs;
  native: EngineNative;
  /** Intent journal directory (/var/lib/daxram). */
  stateDir: string;
  /** flock(2) file shared by the CLI and the daemon (/run/daxram/lock). */
  lockPath: string;
  log: Logger;
  /** Build and report the plan, change nothing. */
  dryRun: boolean;
  policy: Policy;
  /** Residual poison after the scrub pipeline; defaults to the region's badblocks. */
  poison?: PoisonSource;
  /** CPU machine-check recovery (SER_P); defaults to "unknown". */
  mce?: MceSource;
  /** Loads kmem/device_dax when a plan needs them; without one a missing module is an error naming it. */
  modules?: ModuleLoader;
  /** How long to wait for another holder of the lock before giving up (ms). */
  lockWaitMs?: number;
  /** Progress of long steps (zeroing): done/total bytes. */
  progress?: (device: string, what: string, done: number, total: number) => void;
  /**
   * Called after every step that carries a mark. Crash tests inject a SIGKILL here; nothing in
   * production sets it.
   */
  afterStep?: (mark: KillPoint) => void;
  /** Aborted when daxramd stops: long waits (a scrub) end early, before anything was changed. */
  signal?: AbortSignal;
  /**
   * Asked under the lock, before a transition plans anything: why it is no longer wanted, if it
   * is not. daxramd decides from records read without the lock, and a CLI command holding the
   * lock may change them (reassign records its devices inside its transition): the decision is
   * checked again where nothing can change it. The transition then changes nothing (ECANCELED).
   */
  stillWanted?: () => string | undefined;
  /**
   * Where an operator's decision is kept (intent.ts): recorded before a transition's first write,
   * confirmed after it, also when recover finishes it. Without one, decisions are not kept.
   */
  intent?: IntentHook;
}

export const quietLog: Logger = {info() {}, warn() {}};

// The engine Context for this host, built in one place for the CLI and daxramd, so what gates
// a boot-time online is exactly what gates an operator's: the scrub pipeline for residual
// poison, MCG_CAP for machine-check recovery, the addon for the lock and zeroing, modprobe for
// the modules a plan needs. Tests hand in their own pieces through `inject` (test entry
// points); nothing here reads a test switch.

import {Sysfs} from '../sysfs';
import type {Context, Logger} from '../engine';
import {holdContext, liveEngineNative} from './hold-context';
import type {Policy} from '../policy/settings';
import {badblocksPoison, type MceReport, type MceSource, type PoisonSource} from '../policy/sources';
import {loadNative} from '../native';
import {readMcgCap} from '../mce';
import {modprobeLoader, type ModuleLoader} from '../kmod';
import {mountPseudoFs} from '../mounts';
import {describeScrub, scrubPoisonSource, targetByName} from '../scrub/pipeline';
import {operatorIntents} from './intent';

export interface HostContextOptions {
  sysfs: Sysfs;
  policy: Policy;
  log: Logger;
  dryRun?: boolean;
  stateDir?: string;
  lockPath?: string;
  lockWaitMs?: number;
  progress?: Context['progress'];
  /** Aborts long waits (a scrub) when daxramd is asked to stop. */
  signal?: AbortSignal;
  /**
   * Load missing modules (kmem, device_dax, msr) with modprobe, and say so. The CLI does;
   * daxramd's unit forbids it (ProtectKernelModules) and relies on modules-load.d.
   */
  loadModules: boolean;
}

/** Pieces a test entry point swaps in; production passes none. */
export type ContextInjection = Partial<Pick<Context, 'poison' | 'mce' | 'native' | 'afterStep' | 'modules'>>;

export function hostContext(o: HostContextOptions, inject: ContextInjection = {}): Context {
  const modules = o.loadModules ? modprobeLoader(o.sysfs, (m) => o.log.info(`loaded the ${m} module`)) : undefined;
  const base = holdContext(o);
  return {
    // The hold's context (the lock, the journal directory, sysfs) is every context's base.
    ...base,
    intent: operatorIntents(o.sysfs, base.stateDir),
    native: inject.native ?? liveEngineNative(),
    dryRun: !!o.dryRun,
    policy: o.policy,
    poison: inject.poison ?? livePoisonSource(o.sysfs, !!o.dryRun, o.loadModules, o.signal),
    mce: inject.mce ?? liveMceSource(modules),
    modules: inject.modules ?? modules,
    progress: o.progress,
    afterStep: inject.afterStep,
    signal: o.signal,
  };
}

/**
 * Scrub the device's range and clear what can be cleared; a dry run changes nothing and so does
 * not scrub: its gate shows what the kernel's badblocks already know.
 */
export function livePoisonSource(sysfs: Sysfs, dryRun: boolean, mount = false, signal?: AbortSignal): PoisonSource {
  if (dryRun) {
    const dry: PoisonSource = async (dev) => {
      const r = await badblocksPoison(sysfs)(dev);
      return {...r, source: `${r.source}; the real run scrubs first`};
    };
    dry.describe = (dev) => describeScrub(sysfs, targetByName(sysfs, dev.name));
    return dry;
  }
  return (dev, o) => scrubPoisonSource(loadNative(), sysfs, {mount: mount ? mountPseudoFs : undefined, signal})(dev, o);
}

// MCG_CAP is a capability register: read once per process (daxramd onlines many devices), not
// per online. An unknown answer (msr not loaded yet) is asked again next time.
let serPKnown: MceReport | undefined;

/** MCG_CAP.SER_P from /dev/cpu/0/msr, loading the msr module first when allowed. */
export function liveMceSource(modules?: ModuleLoader): MceSource {
  return async () => {
    if (serPKnown) return serPKnown;
    let native;
    try {
      native = loadNative();
    } catch {
      native = undefined;
    }
    let loadError = '';
    try {
      modules?.ensure('msr');
    } catch (e) {
      loadError = `; ${(e as Error).message}`;
    }
    const r = await readMcgCap(native);
    const report = {serP: r.serP === 'yes' ? true : r.serP === 'no' ? false : undefined, source: r.reason ? `${r.source}: ${r.reason}${loadError}` : r.source};
    if (report.serP !== undefined) serPKnown = report;
    return report;
  };
}

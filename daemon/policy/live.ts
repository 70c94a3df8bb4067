// The gate inputs on a real machine: the scrub pipeline for residual poison and MCG_CAP for
// machine-check recovery. The CLI and the daemon both build their engine Context from here, so
// what gates a boot-time online is exactly what gates an operator's.

import type {Sysfs} from '../sysfs';
import type {EngineNative} from '../engine/context';
import {loadNative} from '../native';
import {readMcgCap} from '../mce';
import {describeScrub, scrubPoisonSource, targetByName} from '../scrub/pipeline';
import {badblocksPoison, type MceSource, type PoisonSource} from './sources';

/** The addon, loaded on first use: a dry run or a fixture run needs no syscalls until it locks or zeroes. */
export function liveEngineNative(): EngineNative {
  return {
    flock: (fd, op) => loadNative().flock(fd, op),
    zeroDax: (fd, off, len) => loadNative().zeroDax(fd, off, len),
  };
}

/**
 * Scrub the device's range and clear what can be cleared; a dry run changes nothing and so does
 * not scrub: its gate shows what the kernel's badblocks already know.
 */
export function livePoisonSource(sysfs: Sysfs, dryRun: boolean): PoisonSource {
  const spec = process.env.DAXRAM_TEST_POISON;
  if (spec) return testPoison(spec);
  if (dryRun) {
    const dry: PoisonSource = async (dev) => {
      const r = await badblocksPoison(sysfs)(dev);
      return {...r, source: `${r.source}; the real run scrubs first`};
    };
    dry.describe = (dev) => describeScrub(sysfs, targetByName(sysfs, dev.name));
    return dry;
  }
  return (dev) => scrubPoisonSource(loadNative(), sysfs)(dev);
}

// MCG_CAP is a capability register: read once per process (daxramd onlines many devices), not
// per online. An unknown answer (msr not loaded yet) is asked again next time.
let serPKnown: Awaited<ReturnType<MceSource>> | undefined;

/** MCG_CAP.SER_P from /dev/cpu/0/msr; unknown when the msr device is absent. */
export function liveMceSource(): MceSource {
  const forced = process.env.DAXRAM_TEST_SER_P;
  // Test only: fixture roots and some guests have no MSR device.
  if (forced) return async () => ({serP: forced === '1', source: 'DAXRAM_TEST_SER_P (test only)'});
  return async () => {
    if (serPKnown) return serPKnown;
    let native;
    try {
      native = loadNative();
    } catch {
      native = undefined;
    }
    const r = await readMcgCap(native);
    const report = {serP: r.serP === 'yes' ? true : r.serP === 'no' ? false : undefined, source: r.reason ? `${r.source}: ${r.reason}` : r.source};
    if (report.serP !== undefined) serPKnown = report;
    return report;
  };
}

/**
 * Test only: DAXRAM_TEST_POISON="0xADDR:LEN[,…]" (or "none") stands in for the scrub's residual-poison
 * result, because the QEMU NVDIMM has no ARS and no error injection; the kernel side of
 * online-and-isolate (hard_offline_page, HardwareCorrupted) is then exercised for real.
 */
function testPoison(spec: string): PoisonSource {
  const remaining =
    spec === 'none'
      ? []
      : spec.split(',').map((x) => {
          const [a, l] = x.split(':');
          return {start: BigInt(a), size: BigInt(l ?? '4096')};
        });
  return async () => ({scrubSupported: false, found: remaining, cleared: [], remaining, source: 'DAXRAM_TEST_POISON (test only)'});
}

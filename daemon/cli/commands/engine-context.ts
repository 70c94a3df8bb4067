// What the mutating verbs share: the engine Context built from the global options, the policy
// flags, and the way results are printed.

import type {Argv} from 'yargs';
import {Sysfs} from '../../sysfs';
import {DEFAULT_LOCK_PATH, DEFAULT_STATE_DIR, type Context, type EngineNative} from '../../engine';
import {makePolicy} from '../../policy/settings';
import {badblocksPoison, type MceSource, type PoisonSource} from '../../policy/sources';
import {scrubPoisonSource} from '../../scrub/pipeline';
import {loadNative} from '../../native';
import {readMcgCap} from '../../mce';
import {describePlan, type Plan} from '../../engine/plan';
import {printJson} from '../output';

export interface EngineArgs {
  json?: boolean;
  root?: string;
  'dry-run'?: boolean;
  poison?: string;
  'mce-recovery'?: string;
  security?: string;
  reserve?: string[];
  'state-dir'?: string;
  'lock-wait'?: number;
}

export function withEngineOptions<T>(y: Argv<T>, gates: boolean): Argv<T> {
  let a = y
    .option('dry-run', {type: 'boolean', default: false, describe: 'Print the exact sysfs writes and syscalls, change nothing'})
    .option('state-dir', {type: 'string', hidden: true, describe: `Intent journal directory (default ${DEFAULT_STATE_DIR}, env DAXRAM_STATE_DIR)`})
    .option('lock-wait', {type: 'number', default: 10, describe: 'Seconds to wait for another daxram command to finish'});
  if (gates) {
    a = a
      .option('poison', {choices: ['refuse', 'online-and-isolate'], describe: 'Residual poison after scrub: refuse (default) or online and hard-offline exactly the poisoned pages'})
      .option('mce-recovery', {choices: ['refuse', 'warn'], describe: 'When the CPU cannot recover from machine checks (SER_P absent or unknown): refuse (default) or warn'})
      .option('security', {choices: ['warn', 'refuse', 'ignore'], describe: 'When DIMM security (encryption at rest) is not enabled: warn (default), refuse or ignore'})
      .option('reserve', {type: 'string', array: true, describe: 'Device, region or namespace uuid that must never be onlined (repeatable)'});
  }
  return a as Argv<T>;
}

/** The addon lazily: a dry run or a fixture run needs no syscalls until it locks or zeroes. */
function lazyNative(): EngineNative {
  return {
    flock: (fd, op) => loadNative().flock(fd, op),
    zeroDax: (fd, off, len) => loadNative().zeroDax(fd, off, len),
  };
}

const mceFromMsr: MceSource = async () => {
  let native;
  try {
    native = loadNative();
  } catch {
    native = undefined;
  }
  const r = await readMcgCap(native);
  return {serP: r.serP === 'yes' ? true : r.serP === 'no' ? false : undefined, source: r.reason ? `${r.source}: ${r.reason}` : r.source};
};

const sysfsCache = new Map<string, Sysfs>();
function sysfsOf(argv: EngineArgs): Sysfs {
  const root = argv.root ?? '/';
  if (!sysfsCache.has(root)) sysfsCache.set(root, new Sysfs(root));
  return sysfsCache.get(root)!;
}

/** The real gate input: scrub the device's range and clear what can be cleared (daemon/scrub). */
function scrubbed(sysfs: Sysfs): PoisonSource {
  return (dev) => scrubPoisonSource(loadNative(), sysfs)(dev);
}

/** A dry run changes nothing and does not scrub: the gate shows what the kernel already knows. */
function dryRunPoison(sysfs: Sysfs): PoisonSource {
  return async (dev) => {
    const r = await badblocksPoison(sysfs)(dev);
    return {...r, source: `${r.source}; the real run scrubs first`};
  };
}

export function engineContext(argv: EngineArgs): Context {
  const json = !!argv.json;
  return {
    sysfs: sysfsOf(argv),
    native: lazyNative(),
    stateDir: argv['state-dir'] ?? process.env.DAXRAM_STATE_DIR ?? DEFAULT_STATE_DIR,
    lockPath: process.env.DAXRAM_LOCK ?? DEFAULT_LOCK_PATH,
    lockWaitMs: (argv['lock-wait'] ?? 10) * 1000,
    dryRun: !!argv['dry-run'],
    policy: makePolicy({poison: argv.poison, mceRecovery: argv['mce-recovery'], security: argv.security, reserved: argv.reserve}),
    poison: process.env.DAXRAM_TEST_POISON ? testPoison(process.env.DAXRAM_TEST_POISON) : argv['dry-run'] ? dryRunPoison(sysfsOf(argv)) : scrubbed(sysfsOf(argv)),
    // Test only: DAXRAM_TEST_SER_P=1|0 stands in for MCG_CAP.SER_P (fixture roots have no MSR).
    mce: process.env.DAXRAM_TEST_SER_P ? async () => ({serP: process.env.DAXRAM_TEST_SER_P === '1', source: 'DAXRAM_TEST_SER_P (test only)'}) : mceFromMsr,
    log: {
      info: (m) => (json ? undefined : process.stderr.write(`daxram: ${m}\n`)),
      warn: (m) => process.stderr.write(`daxram: warning: ${m}\n`),
    },
    progress: json
      ? undefined
      : (() => {
          let last = -1;
          return (dev: string, what: string, done: number, total: number) => {
            const pct = Math.floor((done * 100) / Math.max(total, 1));
            if (pct !== last && (pct % 10 === 0 || done === total)) process.stderr.write(`daxram: ${dev}: ${what} ${pct}%\n`);
            last = pct;
          };
        })(),
  };
}

export function printPlanOrResult(argv: EngineArgs, r: {plan: Plan; dryRun: boolean}, human: () => string[]): void {
  if (argv.json) return printJson(r);
  if (r.dryRun) {
    process.stdout.write(describePlan(r.plan) + '\n');
    return;
  }
  process.stdout.write(human().join('\n') + '\n');
}

/**
 * Test only: DAXRAM_TEST_POISON="0xADDR:LEN[,…]" (or "none") stands in for the scrub's residual-poison
 * result, because the QEMU NVDIMM has no ARS and no error injection; the kernel side of
 * online-and-isolate (hard_offline_page, HardwareCorrupted) is then exercised for real.
 */
function testPoison(spec: string): PoisonSource {
  const remaining = spec === 'none' ? [] : spec.split(',').map((x) => {
    const [a, l] = x.split(':');
    return {start: BigInt(a), size: BigInt(l ?? '4096')};
  });
  return async () => ({scrubSupported: false, found: remaining, cleared: [], remaining, source: 'DAXRAM_TEST_POISON (test only)'});
}

// What the mutating verbs share: the engine Context built from the global options, the policy
// flags, and the way results are printed.

import type {Argv} from 'yargs';
import {Sysfs} from '../../sysfs';
import {DEFAULT_LOCK_PATH, DEFAULT_STATE_DIR, type Context} from '../../engine';
import {makePolicy} from '../../policy/settings';
import {etcDirFor, withConfigReservations} from '../../config/reservations';
import {liveEngineNative, liveMceSource, livePoisonSource} from '../../policy/live';
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
      .option('reserve', {type: 'string', array: true, describe: "Device, region or uuid (namespace or dax info block) that must never be onlined nor destroyed (repeatable); daxramd's mode = reserved rules apply too"});
  }
  return a as Argv<T>;
}

const sysfsCache = new Map<string, Sysfs>();
function sysfsOf(argv: EngineArgs): Sysfs {
  const root = argv.root ?? '/';
  if (!sysfsCache.has(root)) sysfsCache.set(root, new Sysfs(root));
  return sysfsCache.get(root)!;
}

/**
 * reservations: also honour the `mode = reserved` devices of daxramd's configuration (the verbs
 * that can put a device on the allocator's path or destroy it: online, reassign, provision).
 */
export function engineContext(argv: EngineArgs, o: {reservations?: boolean} = {}): Context {
  const json = !!argv.json;
  let policy = makePolicy({poison: argv.poison, mceRecovery: argv['mce-recovery'], security: argv.security, reserved: argv.reserve});
  if (o.reservations) policy = withConfigReservations(policy, sysfsOf(argv), etcDirFor(argv.root));
  return {
    sysfs: sysfsOf(argv),
    native: liveEngineNative(),
    stateDir: argv['state-dir'] ?? process.env.DAXRAM_STATE_DIR ?? DEFAULT_STATE_DIR,
    lockPath: process.env.DAXRAM_LOCK ?? DEFAULT_LOCK_PATH,
    lockWaitMs: (argv['lock-wait'] ?? 10) * 1000,
    dryRun: !!argv['dry-run'],
    policy,
    poison: livePoisonSource(sysfsOf(argv), !!argv['dry-run']),
    mce: liveMceSource(),
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

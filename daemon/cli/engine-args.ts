// What the mutating verbs share: the engine Context built from the global options, the policy
// flags, and the way results are printed.

import type {Argv} from 'yargs';
import {Sysfs} from '../sysfs';
import type {Context} from '../engine';
import {choicesOf, makePolicy, parseGateSettings} from '../policy/settings';
import {withConfigReservations} from '../config/reservations';
import {ETC_DIR, LOCK_PATH, STATE_DIR, underRoot} from '../config/paths';
import {terminalProgress} from '../util/progress';
import {stateDirOf} from '../config/operator';
import {hostContext} from '../host/context';
import {injection} from './inject';
import {describePlan, type Plan} from '../engine';
import {printJson} from './output';

export interface EngineArgs {
  json?: boolean;
  root?: string;
  'dry-run'?: boolean;
  poison?: string;
  'mce-recovery'?: string;
  security?: string;
  unscanned?: string;
  memmap?: string;
  'zone-ratio'?: string;
  'zone-balance'?: string;
  cpuless?: string;
  reserve?: string[];
  'state-dir'?: string;
  'lock-wait'?: number;
}

export function withEngineOptions<T>(y: Argv<T>, gates: boolean): Argv<T> {
  let a = y
    .option('dry-run', {type: 'boolean', default: false, describe: 'Print the exact sysfs writes and syscalls, change nothing'})
    .option('state-dir', {type: 'string', hidden: true, describe: `Operator records, reservations and the intent journal (default ${STATE_DIR}, under --root)`})
    .option('lock-wait', {type: 'number', default: 10, describe: 'Seconds to wait for another daxram command to finish'});
  if (gates) {
    a = a
      .option('poison', {choices: choicesOf('poison'), describe: 'Residual poison after scrub: refuse (default) or online and hard-offline exactly the poisoned pages'})
      .option('mce-recovery', {choices: choicesOf('mceRecovery'), describe: 'When the CPU cannot recover from machine checks (SER_P absent or unknown): refuse (default) or warn'})
      .option('unscanned', {choices: choicesOf('unscanned'), describe: 'When the range cannot be scanned for poison (soft-reserved hmem; buses without ARS such as e820): warn (default) or refuse'})
      .option('memmap', {choices: choicesOf('memmap'), describe: "Struct pages (64 B per 4 KiB page, 1/64 of the capacity): on the device itself where the kernel allows it (default; memory_hotplug.memmap_on_memory=1, kernel 6.8+), or in DRAM"})
      .option('zone-ratio', {type: 'string', describe: 'Most Movable memory per byte of kernel-zone memory after the online, in the whole system (default 3, the kernel\'s own auto-movable default; its docs call 3:1 or 4:1 fine and 63:1 impossible; 0: no limit)'})
      .option('zone-balance', {choices: choicesOf('zoneBalance'), describe: 'Over --zone-ratio: refuse (default), warn, or split (online as many blocks Movable as the ratio allows, the rest Normal)'})
      .option('cpuless', {choices: choicesOf('cpuless'), describe: 'A CPU-less node left all Movable while demotion and swap are both off: warn (default), refuse or allow'})
      .option('security', {choices: choicesOf('security'), describe: 'When DIMM security (encryption at rest) is not enabled: warn (default), refuse or ignore'})
      .option('reserve', {type: 'string', array: true, describe: "Device, region or uuid (namespace or dax info block) that must never be onlined nor destroyed (repeatable); daxramd's mode = reserved rules apply too"});
  }
  return a as Argv<T>;
}

const sysfsCache = new Map<string, Sysfs>();
export function sysfsOf(argv: {root?: string}): Sysfs {
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
  const sysfs = sysfsOf(argv);
  const gates = parseGateSettings({poison: argv.poison, mceRecovery: argv['mce-recovery'], security: argv.security, unscanned: argv.unscanned, memmap: argv.memmap, zoneRatio: argv['zone-ratio'], zoneBalance: argv['zone-balance'], cpuless: argv.cpuless});
  let policy = makePolicy({...gates, reserved: argv.reserve});
  const stateDir = stateDirOf(argv);
  // On a terminal only: blocks and bytes as they go, with rate and time left; a message wipes the line first.
  const progress = json || !process.stderr.isTTY ? undefined : terminalProgress({write: (t) => process.stderr.write(t)});
  const say = (m: string) => {
    progress?.clear();
    process.stderr.write(m);
  };
  if (o.reservations) policy = withConfigReservations(policy, sysfs, underRoot(argv.root, ETC_DIR), {stateDir, dryRun: !!argv['dry-run']});
  return hostContext(
    {
      sysfs,
      policy,
      dryRun: !!argv['dry-run'],
      stateDir,
      lockPath: underRoot(argv.root, LOCK_PATH),
      lockWaitMs: (argv['lock-wait'] ?? 10) * 1000,
      // Modules belong to the running kernel: never for a dry run or a fixture root.
      loadModules: !argv['dry-run'] && (argv.root ?? '/') === '/',
      log: {
        info: (m) => (json ? undefined : say(`daxram: ${m}\n`)),
        warn: (m) => say(`daxram: warning: ${m}\n`),
      },
      progress: progress?.sink,
    },
    injection(),
  );
}

export function printPlanOrResult(argv: EngineArgs, r: {plan: Plan; dryRun: boolean}, human: () => string[]): void {
  if (argv.json) return printJson(r);
  if (r.dryRun) {
    process.stdout.write(describePlan(r.plan) + '\n');
    return;
  }
  process.stdout.write(human().join('\n') + '\n');
}

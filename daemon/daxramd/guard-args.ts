// The boot guard's command line (guard.ts), apart so that the launcher (launch.ts) can tell a
// guard call from a daemon start and load the guard's small bundle without loading any of it.

import {LOCK_PATH, STATE_DIR} from '../config/paths';

const VERBS = ['--hold-hotplug', '--release-hotplug'] as const;
const OPTIONS = ['--root', '--lock', '--state-dir'] as const;

/** Whether these are the guard's arguments: either verb, in any position. */
export function isGuardCall(argv: readonly string[]): boolean {
  return argv.some((a) => (VERBS as readonly string[]).includes(a));
}

export interface GuardArgs {
  verb: (typeof VERBS)[number];
  root: string;
  lock: string;
  stateDir: string;
}

/** The verb and --root/--lock/--state-dir (as `--opt value` or `--opt=value`); anything else is a usage error. */
export function parseGuardArgs(argv: readonly string[]): GuardArgs {
  const o: Record<string, string> = {};
  const verbs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split(/=(.*)/s, 2);
    if ((VERBS as readonly string[]).includes(argv[i])) verbs.push(argv[i]);
    else if ((OPTIONS as readonly string[]).includes(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${name} needs a value`);
      o[name] = v;
    } else throw new Error(`${argv[i]}: ${verbs[0] ?? 'the guard'} takes only ${OPTIONS.join(', ')}`);
  }
  if (verbs.length !== 1) throw new Error(`${VERBS.join(' and ')} are mutually exclusive: give one`);
  return {verb: verbs[0] as GuardArgs['verb'], root: o['--root'] ?? '/', lock: o['--lock'] ?? LOCK_PATH, stateDir: o['--state-dir'] ?? STATE_DIR};
}


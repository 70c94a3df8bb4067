// Every CLI verb, in the order `daxram --help` shows them (verbs.ts). Each verb lives in its own
// module, loaded only when asked for: under TCG or on a slow root filesystem, loading the engine,
// the scrub pipeline and the daemon for `daxram list` costs seconds.
import type {CommandModule} from 'yargs';
import {VERBS, type Verb} from './verbs';

type Loader = () => CommandModule<any, any>;

const loaders: Record<Verb, Loader> = {
  list: () => (require('./list') as typeof import('./list')).listCommand,
  online: () => (require('./online') as typeof import('./online')).onlineCommand,
  offline: () => (require('./offline') as typeof import('./offline')).offlineCommand,
  reassign: () => (require('./reassign') as typeof import('./reassign')).reassignCommand,
  provision: () => (require('./provision') as typeof import('./provision')).provisionCommand,
  release: () => (require('./release') as typeof import('./release')).releaseCommand,
  recover: () => (require('./recover') as typeof import('./recover')).recoverCommand,
  scrub: () => (require('./scrub') as typeof import('./scrub')).scrubCommand,
  clear: () => (require('./clear') as typeof import('./clear')).clearCommand,
  status: () => (require('./daemon-status') as typeof import('./daemon-status')).statusCommand,
  config: () => (require('./config') as typeof import('./config')).configCommand,
  forget: () => (require('./forget') as typeof import('./forget')).forgetCommand,
};

const isVerb = (w: string): w is Verb => Object.prototype.hasOwnProperty.call(VERBS, w);

/**
 * The verb argv names (its first word that is a verb: an option's value may come before it), or,
 * when it names none, every verb as its usage line and summary alone: all yargs needs to print
 * the top-level help, suggest a verb for a misspelt one, or say one is missing. Such a verb never
 * runs: its handler would mean a verb was named that this function did not see.
 */
export function commandsFor(argv: readonly string[]): CommandModule<any, any>[] {
  const word = argv.find(isVerb);
  if (word !== undefined) return [loaders[word]()];
  return (Object.keys(VERBS) as Verb[]).map((v) => ({
    ...VERBS[v],
    handler: () => {
      throw new Error(`internal: the ${v} verb ran without its module`);
    },
  }));
}


// Every CLI verb, in the order `daxram --help` shows them. Each verb lives in its own module,
// loaded only when asked for: under TCG or on a slow root filesystem, loading the engine,
// the scrub pipeline and the daemon for `daxram list` costs seconds.
import type {CommandModule} from 'yargs';

type Loader = () => CommandModule<any, any>;

export const commandLoaders: ReadonlyArray<readonly [string, Loader]> = [
  ['list', () => (require('./list') as typeof import('./list')).listCommand],
  ['online', () => (require('./online') as typeof import('./online')).onlineCommand],
  ['offline', () => (require('./offline') as typeof import('./offline')).offlineCommand],
  ['reassign', () => (require('./reassign') as typeof import('./reassign')).reassignCommand],
  ['provision', () => (require('./provision') as typeof import('./provision')).provisionCommand],
  ['release', () => (require('./release') as typeof import('./release')).releaseCommand],
  ['recover', () => (require('./recover') as typeof import('./recover')).recoverCommand],
  ['scrub', () => (require('./scrub') as typeof import('./scrub')).scrubCommand],
  ['clear', () => (require('./clear') as typeof import('./clear')).clearCommand],
  ['status', () => (require('./daemon-status') as typeof import('./daemon-status')).statusCommand],
  ['config', () => (require('./config') as typeof import('./config')).configCommand],
  ['forget', () => (require('./forget') as typeof import('./forget')).forgetCommand],
];

/** The verb named by argv (its first non-option word), or every verb when there is none or it is unknown. */
export function commandsFor(argv: readonly string[]): CommandModule<any, any>[] {
  const word = argv.find((a) => !a.startsWith('-'));
  const hit = commandLoaders.find(([name]) => name === word);
  return hit ? [hit[1]()] : commandLoaders.map(([, load]) => load());
}

// daxram: the operator CLI. A thin layer over the library in daemon/: parse, call, print.

import yargs from 'yargs';
import {VERSION} from '../util/version';
import {commandsFor} from './commands';
import {exitCodeFor, reportError} from './output';
import {setInjection} from './inject';
import type {ContextInjection} from '../host/context';

export function buildParser(argv: string[]) {
  let parser = yargs(argv)
    .scriptName('daxram')
    .usage(
      'daxram: turn device-dax memory (pmem, CXL, soft-reserved) into System RAM, safely.\n\n' +
        'Every range is scrubbed for poison, gated on policy, bound to kmem and onlined on its ' +
        'target NUMA node. Mutating commands take --dry-run to print the exact sysfs writes and ' +
        'ioctls first.\n\nUsage: $0 <command> [options]',
    )
    .option('json', {type: 'boolean', default: false, describe: 'Print machine-readable JSON'})
    .option('root', {type: 'string', default: '/', hidden: true, describe: 'Read sysfs under this root (fixtures)'})
    .strict()
    .demandCommand(1, 'name a command; see daxram --help')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(100, process.stdout.columns || 80))
    .fail((msg, err, y) => {
      if (err) throw err;
      void y;
      process.stderr.write(`daxram: ${msg}\nRun 'daxram --help' for usage.\n`);
      process.exit(2);
    });
  for (const c of commandsFor(argv)) parser = parser.command(c);
  skipHelpCache(parser);
  return parser;
}

/**
 * yargs 17 renders the whole help text right after it starts a command's handler (command.js,
 * cacheHelpMessage), to show it if the handler fails later. Our .fail() never shows help, and
 * the rendering was 20-25 ms of every verb's run (docs/performance.md); --help renders as before.
 * Through yargs' internal methods: should they change shape, this does nothing.
 */
function skipHelpCache(parser: unknown): void {
  type Usage = {cacheHelpMessage?: () => void};
  const usage = (parser as {getInternalMethods?: () => {getUsageInstance?: () => Usage | undefined}}).getInternalMethods?.().getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/** `inject` is for test entry points (a kill point, a poison source); bin/daxram passes none. */
export async function main(argv: string[], inject?: ContextInjection): Promise<void> {
  const json = argv.includes('--json');
  if (inject) setInjection(inject);
  try {
    await buildParser(argv).parseAsync();
  } catch (e) {
    reportError(e, json);
    process.exitCode = exitCodeFor(e);
  }
}

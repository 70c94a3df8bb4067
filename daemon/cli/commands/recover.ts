import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {recover} from '../../engine';
import {printJson} from '../output';
import {engineContext, withEngineOptions, type EngineArgs} from '../engine-args';

export const recoverCommand: CommandModule<{}, EngineArgs> = {
  ...VERBS.recover,
  builder: (y) =>
    withEngineOptions(
      y.epilogue(
        `Reads the intent journal (${'/var/lib/daxram/journal.json'}) and converges the device it names: an interrupted online ` +
          'is finished (or returned to devdax if it cannot be), an interrupted offline is finished and the device zeroed. ' +
          'Every mutating command does this first, so running it by hand is only needed to check.',
      ),
      false,
    ) as any,
  handler: async (argv) => {
    const r = await recover(engineContext(argv));
    if (argv.json) return printJson(r);
    const lines = [r.found ? `${r.found.device}: interrupted ${r.found.op} (pid ${r.found.pid}, step ${r.found.step + 1}/${r.found.total}) → ${r.dryRun ? 'would be finished' : r.action}` : 'nothing to recover'];
    for (const d of r.unbound) lines.push(`  note: ${d} has no driver (daxctl disable-device?); daxram online/offline ${d} gives it one`);
    process.stdout.write(lines.join('\n') + '\n');
  },
};

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {offline} from '../../engine';
import {humanSize} from '../../util/size';
import {checkDaxName} from '../../model/dax';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from '../engine-args';

interface Args extends EngineArgs {
  device: string;
  zero?: boolean;
}

export const offlineCommand: CommandModule<{}, Args> = {
  ...VERBS.offline,
  builder: (y) =>
    withEngineOptions(
      y
        .positional('device', {type: 'string', demandOption: true, describe: 'dax device, e.g. dax0.0'})
        .option('zero', {type: 'boolean', describe: 'Zero the device before handing it back (default: yes when it was System RAM)'})
        .epilogue(
          'Steps: offline every memory block (EBUSY retried a few times; if a block stays busy the others are onlined again), ' +
            'only then unbind kmem (unbinding with a block online strands the range until reboot), bind device_dax, and zero ' +
            'the device through a MAP_SHARED mapping so RAM contents never reach the next devdax user.',
        )
        .example('$0 offline dax0.0 --dry-run', 'show the exact sysfs writes and the zeroing'),
      false,
    ) as any,
  handler: async (argv) => {
    checkDaxName(argv.device); // a usage error (exit 2) before anything is recorded
    // Recorded as the operator's inside the transition, before its first write: daxramd must not undo it.
    const r = await offline(engineContext(argv), argv.device, {zero: argv.zero, decision: {action: 'offline'}});
    printPlanOrResult(argv, r, () => [
      `${r.device}: devdax (driver ${r.driver ?? 'none'}), ${r.blocks.length} block(s) removed${r.zeroed ? `, ${humanSize(r.zeroed)} zeroed` : ''}`,
      ...r.warnings.map((w) => `  warning: ${w}`),
    ]);
  },
};

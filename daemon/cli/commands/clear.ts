import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {runScrubVerb, ScrubArgs} from '../scrub-report';
import {withEngineOptions} from '../engine-args';

export const clearCommand: CommandModule<{}, ScrubArgs> = {
  ...VERBS.clear,
  builder: (y) =>
    withEngineOptions(y, false)
      .positional('device', {type: 'string', demandOption: true, describe: 'dax device, e.g. dax0.0'})
      .option('dry-run', {type: 'boolean', default: false, describe: 'Scrub, then print the CLEAR_ERROR ioctls without issuing them'})
      .option('timeout', {type: 'number', default: 3600, describe: 'Seconds to wait for each scrub (including the kernel\'s own)'})
      .option('verify', {type: 'boolean', describe: 'Second scrub after clearing (default: when anything was cleared)'})
      .epilogue(
        'Scrubs the device\'s range as `daxram scrub` does, then clears every poisoned range found by the scrub or listed ' +
          'in the region\'s badblocks with ND_IOCTL_CLEAR_ERROR, aligned to the firmware\'s clear_err_unit (widened to ' +
          'whole 512-byte sectors where that stays inside the device, so the region\'s badblocks empty too). Clearing ' +
          'discards the contents of the cleared bytes: meant for capacity about to become System RAM. A partial clear ' +
          'is a failure. A second scrub and the region\'s badblocks verify; exit status 1 if poison remains. ' +
          'Refused for a device that is System RAM (pages there may be in use: daxramd isolates that poison; ' +
          '`daxram offline` first to clear it). Runs under the lock daxramd and the other verbs share, journalled.',
      )
      .example('$0 clear dax0.0 --dry-run', 'scrub and show the ioctls that would clear')
      .example('$0 clear dax0.0 --json', 'clear and report as JSON') as any,
  handler: async (argv) => {
    await runScrubVerb(argv, true);
  },
};

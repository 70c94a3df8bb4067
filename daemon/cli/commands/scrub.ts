import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {runScrubVerb, ScrubArgs} from '../scrub-report';

export const scrubCommand: CommandModule<{}, ScrubArgs> = {
  ...VERBS.scrub,
  builder: (y) =>
    y
      .positional('device', {type: 'string', demandOption: true, describe: 'dax device, e.g. dax0.0'})
      .option('timeout', {type: 'number', default: 3600, describe: 'Seconds to wait for the scrub (including the kernel\'s own)'})
      .epilogue(
        'Runs ARS_CAP, ARS_START and ARS_STATUS on the device\'s NVDIMM bus (/dev/ndctlN) for exactly the device\'s ' +
          'physical range and merges the records with the region\'s badblocks. Changes no data. If the kernel is ' +
          'scrubbing the bus (ndbusN/nfit/scrub shows "N+"), it waits for that scrub first. Buses without ARS (QEMU, ' +
          'e820 pmem) and hmem/CXL devices report "scrub unsupported" and the poison the kernel already knows.',
      )
      .example('$0 scrub dax0.0', 'scrub and list poisoned ranges')
      .example('$0 scrub dax0.0 --json', 'the same as JSON') as any,
  handler: async (argv) => {
    await runScrubVerb(argv, false);
  },
};

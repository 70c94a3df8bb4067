import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {releaseCxl, type CxlRegionResult} from '../../engine';
import {humanSize} from '../../util/size';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from '../engine-args';

interface Args extends EngineArgs {
  region: string;
  zero: boolean;
}

function lines(r: CxlRegionResult): string[] {
  return [`${r.region}: released (${humanSize(r.size)}); capacity free again:`, ...(r.freed ?? []).map((f) => `  ${f.memdev}: ${humanSize(f.bytes)} (${f.decoder} reset)`)];
}

export const releaseCommand: CommandModule<{}, Args> = {
  ...VERBS.release,
  builder: (y) =>
    withEngineOptions(
      y
        .positional('region', {type: 'string', demandOption: true, describe: 'CXL RAM region, e.g. region0 (daxram list --cxl)'})
        .option('zero', {
          type: 'boolean',
          default: true,
          describe: 'Zero its System RAM before the region goes (--no-zero: faster, for memory that held nothing the next user must not see)',
        })
        .epilogue(
          "Every System RAM device of the region is offlined (its pages migrate; EBUSY is retried) and zeroed, then the region's decoders " +
            'are reset (commit 0), its targets detached, each endpoint decoder\'s capacity freed (dpa_size 0) and the region deleted; its ' +
            'declaration (daxram provision) is dropped first, so daxramd does not make it again at boot. A devdax ' +
            'device of the region goes with it, contents included; a reserved one refuses. Safe to interrupt: the next daxram command (or ' +
            'daxram recover) finishes the teardown.',
        )
        .example('$0 release region0 --dry-run', 'every write, in order'),
      false,
    ) as any,
  handler: async (argv) => {
    const ctx = engineContext(argv, {reservations: true});
    // The declaration and the devices' records go inside the transition, before its first write
    // (daxramd would make the region again).
    const r = await releaseCxl(ctx, argv.region, {zero: argv.zero, decision: {action: 'release'}});
    printPlanOrResult(argv, r, () => lines(r));
  },
};

import type {CommandModule} from 'yargs';
import {recordOperatorLayout, recordOperatorRegion, undoIfUnchanged} from '../../config/operator';
import {provision} from '../../engine';
import {parseSize} from '../../util/size';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from './engine-context';
import {layoutLines} from './reassign';

interface Args extends EngineArgs {
  region: string;
  ram?: string;
  online: boolean;
  zone: string;
}

export const provisionCommand: CommandModule<{}, Args> = {
  command: 'provision <region>',
  describe: 'Lay out an empty region as devdax namespaces that kmem can online almost entirely',
  builder: (y) =>
    withEngineOptions(
      y
        .positional('region', {type: 'string', demandOption: true, describe: 'NVDIMM region without namespaces, e.g. region0'})
        .option('ram', {type: 'string', describe: 'System RAM wanted (default: all of it, region size minus one memory block); the rest becomes a devdax namespace'})
        .option('online', {type: 'boolean', default: true, describe: 'Online the RAM namespace afterwards'})
        .option('zone', {choices: ['movable', 'normal', 'auto'], default: 'movable', describe: 'Zone for the RAM blocks'})
        .epilogue(
          'kmem only onlines whole memory blocks, so a namespace whose data starts or ends inside a block loses it. provision ' +
            "starts the RAM namespace at the region start and ends its data on a block boundary, and puts the info block and struct pages " +
            '(map=dev) in the head block that is lost anyway, or in DRAM (map=mem) when they would not fit. --dry-run explains the layout.',
        )
        .example('$0 provision region0 --dry-run', 'show the layout, what kmem will online, and every sysfs write'),
      true,
    ) as any,
  handler: async (argv) => {
    // Bad input (a size, the config) fails before anything is recorded.
    const ctx = engineContext(argv, {reservations: true});
    const ram = argv.ram === undefined ? undefined : parseSize(argv.ram, '--ram');
    const undo = recordOperatorRegion(argv, argv.region, 'provision'); // daxramd must not act on the half-made layout
    const r = await undoIfUnchanged(undo, () => provision(ctx, argv.region, {ram, online: argv.online, zone: argv.zone as 'movable'}));
    if (!r.dryRun) recordOperatorLayout(argv, r.devices, 'provision', {zone: argv.zone, online: argv.online});
    printPlanOrResult(argv, r, () => layoutLines(r));
  },
};

import {recordOperatorLayout, recordOperatorRegion, undoIfUnchanged} from '../../config/operator';
import type {CommandModule} from 'yargs';
import {reassign, type LayoutResult} from '../../engine';
import {humanSize, parseSize} from '../../util/size';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from './engine-context';

interface Args extends EngineArgs {
  region: string;
  ram: string;
  force: boolean;
  online: boolean;
  zone: string;
}

export function layoutLines(r: LayoutResult): string[] {
  return [
    `${r.region}: ${humanSize(r.layout.ramBytes)} laid out as System RAM (was ${humanSize(r.before)} kmem capacity)`,
    ...r.devices.map((d) => `  ${d.namespace}${d.dax ? ` → ${d.dax}` : ''}: ${d.role}, ${humanSize(d.size)}`),
  ];
}

export const reassignCommand: CommandModule<{}, Args> = {
  command: 'reassign <region>',
  describe: "Move a region's capacity between System RAM and devdax",
  builder: (y) =>
    withEngineOptions(
      y
        .positional('region', {type: 'string', demandOption: true, describe: 'NVDIMM region, e.g. region0'})
        .option('ram', {type: 'string', demandOption: true, describe: 'How much becomes System RAM (e.g. 1G; 0 = all devdax); the rest stays devdax'})
        .option('force', {type: 'boolean', default: false, describe: 'Also destroy fsdax/sector/raw namespaces (they may hold a filesystem)'})
        .option('online', {type: 'boolean', default: true, describe: 'Online the RAM namespace afterwards'})
        .option('zone', {choices: ['movable', 'normal', 'auto'], default: 'movable', describe: 'Zone for the RAM blocks'})
        .epilogue(
          'Every System RAM device of the region is offlined and zeroed first, its namespaces are destroyed, and the region is laid ' +
            'out again as one RAM namespace (whose data ends on a memory block boundary, struct pages in the head kmem cannot use) ' +
            'and one devdax namespace with the rest, then the RAM device is onlined through the policy gates. --dry-run explains the layout. ' +
            'Safe to interrupt: the next daxram command (or daxram recover) finishes it.',
        )
        .example('$0 reassign region0 --ram 1G --dry-run', 'show the layout and every sysfs write'),
      true,
    ) as any,
  handler: async (argv) => {
    // Bad input (a size, the config) fails before anything is recorded.
    const ctx = engineContext(argv, {reservations: true});
    const ram = parseSize(argv.ram, '--ram');
    const undo = recordOperatorRegion(argv, argv.region, 'reassign'); // daxramd must not undo the new layout
    const r = await undoIfUnchanged(undo, () => reassign(ctx, argv.region, ram, {force: argv.force, online: argv.online, zone: argv.zone as 'movable'}));
    if (!r.dryRun) recordOperatorLayout(argv, r.devices, 'reassign', {zone: argv.zone, online: argv.online});
    printPlanOrResult(argv, r, () => layoutLines(r));
  },
};

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {reassign, reassignDax, type DaxLayoutResult, type LayoutResult} from '../../engine';
import {ND_DEVICES} from '../../model/bus';
import type {Sysfs} from '../../sysfs';
import {humanSize, parseSize} from '../../util/size';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from '../engine-args';

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

export function daxLayoutLines(r: DaxLayoutResult): string[] {
  return [
    `${r.region} (dax region ${r.daxRegion}): ${humanSize(r.layout.ramBytes)} System RAM, ${humanSize(r.layout.devdaxSize)} devdax (was ${humanSize(r.before)} kmem capacity)`,
    ...r.devices.map((d) => `  ${d.name}: ${d.role}, ${humanSize(d.size)}`),
  ];
}

/** NVDIMM regions live on the nd bus; everything else reassign takes is a dynamic dax region. */
function isNvdimmRegion(sysfs: Sysfs, name: string): boolean {
  return /^region\d+$/.test(name) && sysfs.exists(`${ND_DEVICES}/${name}`);
}

export const reassignCommand: CommandModule<{}, Args> = {
  ...VERBS.reassign,
  builder: (y) =>
    withEngineOptions(
      y
        .positional('region', {type: 'string', demandOption: true, describe: 'NVDIMM region (region0), CXL RAM region (region0 on the cxl bus, or its dax_regionN), or soft-reserved range (hmem.0)'})
        .option('ram', {type: 'string', demandOption: true, describe: 'How much becomes System RAM (e.g. 1G; 0 = all devdax); the rest stays devdax'})
        .option('force', {type: 'boolean', default: false, describe: 'NVDIMM: also destroy fsdax/sector/raw namespaces (they may hold a filesystem)'})
        .option('online', {type: 'boolean', default: true, describe: 'Online the RAM namespace afterwards'})
        .option('zone', {choices: ['movable', 'normal', 'auto'], default: 'movable', describe: 'Zone for the RAM blocks'})
        .epilogue(
          'Every System RAM device of the region is offlined and zeroed first, its namespaces are destroyed, and the region is laid ' +
            'out again as one RAM namespace (whose data ends on a memory block boundary, struct pages in the head kmem cannot use) ' +
            'and one devdax namespace with the rest, then the RAM device is onlined through the policy gates. --dry-run explains the layout. ' +
            'Safe to interrupt: the next daxram command (or daxram recover) finishes it.\n\n' +
            'hmem and CXL regions have no namespaces: their dax region is split into device 0 (the RAM part, from the region start, ' +
            'ending on a memory block boundary) and one devdax device with the rest, through the dax bus (create, size, delete). ' +
            'A region name on both the nd and the cxl bus means the NVDIMM one: name the CXL one by its dax_regionN. ' +
            'A soft-reserved range comes back as one device after a reboot, and a CXL region not at all: the split is declared in ' +
            '/var/lib/daxram and daxramd lays it out again at boot (daxram forget hmem:0x<start> or cxl:<serials> drops the declaration; ' +
            'a [region] section in daxram.conf declares a layout without running this).',
        )
        .example('$0 reassign region0 --ram 1G --dry-run', 'show the layout and every sysfs write')
        .example('$0 reassign hmem.0 --ram 512M', 'half a 1 GiB soft-reserved range as System RAM, half as /dev/daxX.1'),
      true,
    ) as any,
  handler: async (argv) => {
    // Bad input (a size, the config) fails before anything is recorded.
    const ctx = engineContext(argv, {reservations: true});
    const ram = parseSize(argv.ram, '--ram');
    // The operator's layout is recorded inside the transition, before its first write (daxramd,
    // waiting on the lock, finds it rather than devices its config would decide about), and its
    // new devices once they exist; a split hmem or CXL region is declared for the next boot.
    const decision = {action: 'reassign', zone: argv.zone, online: argv.online} as const;
    if (!isNvdimmRegion(ctx.sysfs, argv.region)) {
      const r = await reassignDax(ctx, argv.region, ram, {online: argv.online, zone: argv.zone as 'movable', decision});
      printPlanOrResult(argv, r, () => daxLayoutLines(r));
      return;
    }
    const r = await reassign(ctx, argv.region, ram, {force: argv.force, online: argv.online, zone: argv.zone as 'movable', decision});
    printPlanOrResult(argv, r, () => layoutLines(r));
  },
};

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {isMemdevList, parseMemdevList, provision, provisionCxl, type CxlRegionResult} from '../../engine';
import {UsageError} from '../../errors';
import {humanSize, parseSize} from '../../util/size';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from '../engine-args';
import {layoutLines} from './reassign';

interface Args extends EngineArgs {
  target: string;
  ram?: string;
  size?: string;
  online: boolean;
  zone: string;
}

export function cxlRegionLines(r: CxlRegionResult): string[] {
  const out = [
    `${r.region}: ${humanSize(r.size)} CXL RAM region at 0x${(r.resource ?? 0n).toString(16)} under ${r.rootDecoder}, ${r.ways} way(s)${r.ways > 1 ? ` × ${r.granularity} B` : ''} over ${r.memdevs.join(', ')}`,
  ];
  if (r.daxDevice) out.push(`  ${r.daxDevice}: ${r.online ? `System RAM, ${r.online.blocks.filter((b) => b.state === 'online').length}/${r.online.blocks.length} blocks online on node ${r.online.node} (${r.online.zone})` : 'devdax (not onlined)'}`);
  for (const w of r.online?.warnings ?? []) out.push(`  warning: ${w}`);
  return out;
}

export const provisionCommand: CommandModule<{}, Args> = {
  ...VERBS.provision,
  builder: (y) =>
    withEngineOptions(
      y
        .positional('target', {type: 'string', demandOption: true, describe: 'an NVDIMM region without namespaces (region0), or CXL memdevs (mem0 or mem0,mem1)'})
        .option('ram', {type: 'string', describe: 'NVDIMM: System RAM wanted (default: all of it, region size minus one memory block); the rest becomes a devdax namespace'})
        .option('size', {type: 'string', describe: 'CXL: region size (default: all the free volatile capacity the memdevs have in common; a multiple of 256 MiB per memdev)'})
        .option('online', {type: 'boolean', default: true, describe: 'Online the RAM device afterwards'})
        .option('zone', {choices: ['movable', 'normal', 'auto'], default: 'movable', describe: 'Zone for the RAM blocks'})
        .epilogue(
          'NVDIMM: kmem only onlines whole memory blocks, so a namespace whose data starts or ends inside a block loses it. provision ' +
            "starts the RAM namespace at the region start and ends its data on a block boundary, and puts the info block and struct pages " +
            '(map=dev) in the head block that is lost anyway, or in DRAM (map=mem) when they would not fit.\n\n' +
            "CXL: the memdevs' free volatile capacity becomes one RAM region under the root decoder (CXL window) that spans their " +
            'host bridge(s), interleaved across them when there are several (ways = number of memdevs, the root decoder\'s granularity), ' +
            'through the kernel\'s region sysfs (no cxl-cli needed). Its device is then checked for poison, gated and onlined like ' +
            '`daxram online`. The region is declared in /var/lib/daxram (its memdevs by serial number): after a power cycle, which ' +
            'clears decoders the OS programmed, daxramd makes it again at boot. `daxram release REGION` gives the capacity back and drops ' +
            'the declaration. --dry-run explains either layout and lists every write.',
        )
        .example('$0 provision region0 --dry-run', 'show the NVDIMM layout, what kmem will online, and every sysfs write')
        .example('$0 provision mem0,mem1', 'a 2-way interleaved CXL RAM region of both memdevs, onlined Movable'),
      true,
    ) as any,
  handler: async (argv) => {
    // Bad input (a size, the config) fails before anything is recorded.
    const ctx = engineContext(argv, {reservations: true});
    const decision = {action: 'provision', zone: argv.zone, online: argv.online} as const;
    if (isMemdevList(argv.target)) {
      const memdevs = parseMemdevList(argv.target);
      if (argv.ram !== undefined) throw new UsageError('--ram is for NVDIMM regions', {device: argv.target, fix: 'a CXL region is sized with --size; split it afterwards with daxram reassign REGION --ram SIZE'});
      const size = argv.size === undefined ? undefined : parseSize(argv.size, '--size');
      // Declared for the next boot inside the transition (nothing else programs these decoders
      // after a power cycle), and its device recorded as the operator's once it exists.
      const r = await provisionCxl(ctx, memdevs, {size, online: argv.online, zone: argv.zone as 'movable', decision});
      printPlanOrResult(argv, r, () => cxlRegionLines(r));
      return;
    }
    const ram = argv.ram === undefined ? undefined : parseSize(argv.ram, '--ram');
    // The region is the operator's before its first write (daxramd must not act on the half-made
    // layout); its new devices are recorded once they exist.
    const r = await provision(ctx, argv.target, {ram, online: argv.online, zone: argv.zone as 'movable', decision});
    printPlanOrResult(argv, r, () => layoutLines(r));
  },
};

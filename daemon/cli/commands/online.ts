import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {online, refuseIfReserved} from '../../engine';
import {UsageError} from '../../errors';
import {humanSize} from '../../util/size';
import {checkDaxName} from '../../model/dax';
import {engineContext, printPlanOrResult, withEngineOptions, type EngineArgs} from '../engine-args';

interface Args extends EngineArgs {
  device: string;
  zone: string;
  online: boolean;
  force: boolean;
}

export const onlineCommand: CommandModule<{}, Args> = {
  ...VERBS.online,
  builder: (y) =>
    withEngineOptions(
      y
        .positional('device', {type: 'string', demandOption: true, describe: 'dax device, e.g. dax0.0'})
        .option('zone', {choices: ['movable', 'normal', 'auto'], default: 'movable', describe: 'movable (online_movable: hot-removable again), normal (online_kernel) or auto (the kernel decides)'})
        .option('online', {type: 'boolean', default: true, describe: 'Online the blocks after kmem adds them (--no-online: leave them offline)'})
        .option('force', {type: 'boolean', default: false, describe: 'With --no-online: bind even though auto_online_blocks or a udev rule will online the blocks'})
        .epilogue(
          'Steps: address range scrub of the device and clear of known poison (ioctls on /dev/ndctlN), ' +
            "gates (reserved: --reserve and daxramd's mode = reserved rules; residual poison; machine-check recovery; DIMM security), unbind from device_dax, " +
            'bind kmem (which adds the range rounded inward to the memory block size), online every block, verify zone and node. ' +
            'Safe to interrupt: the next daxram command (or daxram recover) finishes it.',
        )
        .example('$0 online dax0.0 --dry-run', 'show the gates and the exact sysfs writes')
        .example('$0 online dax0.0 --poison online-and-isolate', 'online, then hard-offline the pages the scrub could not clear'),
      true,
    ) as any,
  handler: async (argv) => {
    if (argv.zone !== 'movable' && argv.zone !== 'normal' && argv.zone !== 'auto') throw new UsageError(`--zone ${argv.zone}`);
    checkDaxName(argv.device); // a usage error (exit 2) before anything is recorded
    const ctx = engineContext(argv, {reservations: true});
    if (!ctx.dryRun) refuseIfReserved(ctx, argv.device); // a dry run shows it as the reserved gate's refusal
    const zone = argv.zone;
    // Recorded as the operator's inside the transition, before its first write: daxramd must not undo it.
    const r = await online(ctx, argv.device, {zone, online: argv.online, force: argv.force, decision: {action: 'online', zone, online: argv.online}});
    printPlanOrResult(argv, r, () => {
      const out = [`${r.device}: system-ram on node ${r.node}, ${r.blocks.filter((b) => b.state === 'online').length}/${r.blocks.length} block(s) online, ${humanSize(r.bytes)} of ${humanSize(r.size)}`];
      const zones = [...new Set(r.blocks.map((b) => b.zone).filter(Boolean))];
      if (zones.length) out.push(`  zone: ${zones.join(', ')}`);
      if (r.isolated.length) out.push(`  isolated ${r.isolated.length} poisoned page(s): ${r.isolated.join(' ')}`);
      for (const g of r.plan.gates) out.push(`  gate ${g.gate}: ${g.verdict}: ${g.detail}`);
      for (const w of r.warnings) out.push(`  warning: ${w}`);
      return out;
    });
  },
};

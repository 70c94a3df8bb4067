// daxram forget: drop an operator record, so daxramd applies the configuration to the device
// again (through the daemon when it runs, so it acts at once; else in the store directly).

import type {CommandModule} from 'yargs';
import {DEFAULT_SOCKET, daemonSocketPresent, request} from '../../ipc/socket';
import {StateStore} from '../../config/state';
import {stateDirOf} from '../../config/operator';
import {printJson} from '../output';

interface Args {
  json?: boolean;
  socket: string;
  device?: string;
  'state-dir'?: string;
}

export const forgetCommand: CommandModule<{}, Args> = {
  command: 'forget <device>',
  describe: 'Drop the operator record for a device so the configuration applies to it again',
  builder: (y) =>
    y
      .positional('device', {type: 'string', demandOption: true, describe: 'dax device (dax0.0) or its key (uuid:…)'})
      .option('socket', {type: 'string', default: DEFAULT_SOCKET, hidden: true})
      .option('state-dir', {type: 'string', hidden: true}) as any,
  handler: async (argv) => {
    if (daemonSocketPresent(argv.socket)) {
      const r = (await request(argv.socket, 'forget', {device: argv.device})) as {forgotten: boolean};
      if (argv.json) return printJson(r);
      process.stdout.write(r.forgotten ? `${argv.device}: operator record dropped; daxramd applied the configuration\n` : `${argv.device}: no operator record\n`);
      return;
    }
    const done = new StateStore(stateDirOf(argv)).forget(argv.device!);
    if (argv.json) return printJson({forgotten: done});
    process.stdout.write(done ? `${argv.device}: operator record dropped\n` : `${argv.device}: no operator record\n`);
  },
};

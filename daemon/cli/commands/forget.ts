// daxram forget: drop an operator record, so daxramd applies the configuration to the device
// again, and release a reservation the configuration no longer holds (config/reservations.ts):
// through the daemon when it runs, so it acts at once; else in the state directory directly.

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {DEFAULT_SOCKET, daemonSocketPresent, request} from '../../ipc/socket';
import {StateStore} from '../../config/state';
import {stateDirOf} from '../../config/operator';
import {printJson} from '../output';
import {configDeviceRules, forgetReservation, type HeldReservation} from '../../config/reservations';
import {ETC_DIR, underRoot} from '../../config/paths';
import {sysfsOf} from '../engine-args';

interface Args {
  json?: boolean;
  root?: string;
  socket: string;
  device?: string;
  'state-dir'?: string;
}

export const forgetCommand: CommandModule<{}, Args> = {
  ...VERBS.forget,
  builder: (y) =>
    y
      .positional('device', {type: 'string', demandOption: true, describe: 'dax device (dax0.0) or its key (uuid:…)'})
      .option('socket', {type: 'string', default: DEFAULT_SOCKET, hidden: true})
      .option('state-dir', {type: 'string', hidden: true}) as any,
  handler: async (argv) => {
    const say = (r: {forgotten: boolean; reservationReleased?: HeldReservation}, viaDaemon: boolean) => {
      if (argv.json) return printJson(r);
      if (r.reservationReleased) process.stdout.write(`${argv.device}: reservation ${r.reservationReleased.key} (${r.reservationReleased.source}, retired ${r.reservationReleased.retiredAt}) released\n`);
      process.stdout.write(r.forgotten ? `${argv.device}: operator record dropped${viaDaemon ? '; daxramd applied the configuration' : ''}\n` : `${argv.device}: no operator record\n`);
    };
    if (daemonSocketPresent(argv.socket)) return say((await request(argv.socket, 'forget', {device: argv.device})) as {forgotten: boolean; reservationReleased?: HeldReservation}, true);
    const stateDir = stateDirOf(argv);
    const reservationReleased = forgetReservation(stateDir, sysfsOf(argv), argv.device!, configDeviceRules(underRoot(argv.root, ETC_DIR)));
    say({forgotten: new StateStore(stateDir).forget(argv.device!), reservationReleased}, false);
  },
};

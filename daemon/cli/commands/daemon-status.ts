// daxram status / daxram forget: ask the running daxramd (over /run/daxram/daxramd.sock) what
// it manages, and hand a device back from an operator record to the config.

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

interface StatusReply {
  status: string;
  configError?: string;
  devices: Array<{device: string; key: string; node: number; actual: string; action: string; detail?: string; desired?: {mode: string; source: string}}>;
  records: Array<{device: string; key: string; mode: string; action: string; at: string}>;
}

export const statusCommand: CommandModule<{}, Args> = {
  command: 'status',
  describe: 'What daxramd manages: desired and actual state of each device',
  builder: (y) => y.option('socket', {type: 'string', default: DEFAULT_SOCKET, hidden: true}) as any,
  handler: async (argv) => {
    if (!daemonSocketPresent(argv.socket)) {
      if (argv.json) printJson({running: false});
      else process.stdout.write('daxramd is not running (no control socket); daxram commands act directly\n');
      process.exitCode = 3;
      return;
    }
    const r = (await request(argv.socket, 'status', {}, {timeoutMs: 10_000})) as StatusReply;
    if (argv.json) return printJson({running: true, ...r});
    const out = [`daxramd: ${r.status}`];
    for (const d of r.devices) {
      out.push(`  ${d.device} (node ${d.node}, ${d.key}): ${d.actual}${d.desired ? `, wants ${d.desired.mode} per ${d.desired.source}` : ', not managed'}${d.action !== 'none' ? ` [${d.action}${d.detail ? `: ${d.detail}` : ''}]` : ''}`);
    }
    if (r.configError) out.push(`  config rejected (previous kept): ${r.configError}`);
    process.stdout.write(out.join('\n') + '\n');
  },
};

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

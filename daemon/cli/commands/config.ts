// daxram config check|show|reload: validate /etc/daxram (+ /etc/daxctl.conf.d) with line
// numbers, show what applies to which device and which daxctl sections ours override, and ask
// a running daxramd to reload.

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {configToJson, DEFAULT_PATHS, loadConfig, matchKey} from '../../config/config';
import {DEFAULT_SOCKET, daemonSocketPresent, request} from '../../ipc/socket';
import {printJson} from '../output';
import {humanSize} from '../../util/size';

interface Args {
  action: string;
  json?: boolean;
  'config-dir': string;
  'daxctl-dir': string;
  socket: string;
}

export const configCommand: CommandModule<{}, Args> = {
  ...VERBS.config,
  builder: (y) =>
    y
      .positional('action', {choices: ['check', 'show', 'reload'], demandOption: true, describe: 'check: validate; show: print what applies; reload: make daxramd re-read it'})
      .option('config-dir', {type: 'string', default: DEFAULT_PATHS.etcDir, describe: 'Directory with daxram.conf and conf.d/'})
      .option('daxctl-dir', {type: 'string', default: DEFAULT_PATHS.daxctlDir!, describe: "daxctl's config directory ('' to ignore)"})
      .option('socket', {type: 'string', default: DEFAULT_SOCKET, hidden: true})
      .epilogue(
        'Devices are matched by namespace uuid, or by region = and resource = for devices without a namespace. ' +
          'Sections from /etc/daxctl.conf.d ([reconfigure-device NAME]) apply too; when both describe one device, ours wins and check says so. ' +
          'A file that does not validate changes nothing: daxramd keeps the configuration it had.',
      )
      .example('$0 config check', 'validate, exit 1 with file:line on the first error') as any,
  handler: async (argv) => {
    if (argv.action === 'reload') {
      if (!daemonSocketPresent(argv.socket)) {
        process.stderr.write('daxram: daxramd is not running; it reads the configuration when it starts\n');
        process.exitCode = 1;
        return;
      }
      const r = (await request(argv.socket, 'reload')) as {accepted: boolean; error?: string};
      if (argv.json) printJson(r);
      else process.stdout.write(r.error ? `rejected, daxramd keeps its previous configuration: ${r.error}\n` : 'daxramd reloaded its configuration\n');
      if (r.error) process.exitCode = 1;
      return;
    }
    const cfg = loadConfig({etcDir: argv['config-dir'], daxctlDir: argv['daxctl-dir'] || undefined});
    if (argv.json) return printJson(configToJson(cfg));
    const out: string[] = [];
    out.push(cfg.files.length ? `files: ${cfg.files.join(', ')}` : `no configuration files under ${argv['config-dir']}: daxramd leaves every device as it is`);
    for (const r of cfg.devices) {
      const gates = Object.entries(r.gates).map(([k, v]) => `${k}=${v}`).join(' ');
      out.push(`  ${r.label}: ${matchKey(r.match)} → ${r.mode}${r.mode === 'ram' ? ` (zone ${r.zone}${r.online ? '' : ', blocks offline'})` : ''}${r.node !== undefined ? ` on node ${r.node}` : ''}${gates ? ` [${gates}]` : ''}  (${r.source.file}:${r.source.line})`);
    }
    for (const g of cfg.regions) {
      const size = (v: bigint | undefined) => (v === undefined ? 'all' : humanSize(v));
      const what = g.memdevs ? `CXL memdevs ${g.memdevs.map((m) => `0x${m.toString(16)}`).join(',')}, size ${size(g.size)}` : `soft-reserved range at 0x${g.range!.toString(16)}`;
      const ram = g.ram === 0n ? 'all devdax' : `${size(g.ram)} System RAM (zone ${g.zone}${g.online ? '' : ', blocks offline'})${g.ram === undefined ? '' : ', the rest devdax'}`;
      out.push(`  [region ${g.label}] ${g.key}: ${what} → ${ram}  (${g.source.file}:${g.source.line})`);
    }
    for (const c of cfg.conflicts) {
      out.push(`note: ${c.key}: ${c.ours.file}:${c.ours.line} overrides daxctl's ${c.daxctl.file}:${c.daxctl.line}${c.differs.length ? ` (${c.differs.join('; ')})` : ' (they agree)'}`);
    }
    for (const w of cfg.warnings) out.push(`warning: ${w}`);
    if (argv.action === 'check') out.push('configuration OK');
    process.stdout.write(out.join('\n') + '\n');
  },
};

// daxram status: ask the running daxramd (over /run/daxram/daxramd.sock) what it manages.

import type {CommandModule} from 'yargs';
import {VERBS} from './verbs';
import {DEFAULT_SOCKET, daemonSocketPresent, request} from '../../ipc/socket';
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
  /** Poisoned pages daxramd isolated in RAM since it started, by device. */
  isolated?: Record<string, number>;
  /** Declared capacity (daxram provision/reassign records, [region] sections) and what became of each. */
  declared?: Record<string, {state: string; by: string; declared: string; region?: string; detail: string}>;
  tiering?: {enabled: string; tiers?: {id: number; nodes: number[]}[]; demotion?: boolean; promotion?: boolean; numaBalancing?: number};
  memmap?: {summary: string};
  interleave?: {supported: boolean; auto?: boolean; weights: Record<string, number>; detail: string};
}

export const statusCommand: CommandModule<{}, Args> = {
  ...VERBS.status,
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
    for (const [dev, n] of Object.entries(r.isolated ?? {})) out.push(`  ${dev}: ${n} poisoned page(s) isolated since daxramd started`);
    for (const [key, d] of Object.entries(r.declared ?? {})) {
      out.push(`  declared ${key} (${d.by}): ${d.declared}`, `    actual: ${d.state}${d.region ? ` ${d.region}` : ''}: ${d.detail}`);
    }
    if (r.configError) out.push(`  config rejected (previous kept): ${r.configError}`);
    const t = r.tiering;
    if (t?.tiers?.length) {
      out.push(`  memory tiers: ${t.tiers.map((x) => `${x.id} (node ${x.nodes.join(',')})`).join(', ')}; demotion ${t.demotion ? 'on' : 'off'}, promotion ${t.promotion ? 'on' : 'off'}; [daemon] tiering = ${t.enabled}`);
    }
    if (r.memmap?.summary) out.push(`  ${r.memmap.summary}`);
    const iw = r.interleave;
    if (iw?.supported) out.push(`  interleave weights: ${Object.entries(iw.weights).map(([n, w]) => `${n} ${w}`).join(', ') || 'none'} (${iw.detail})`);
    process.stdout.write(out.join('\n') + '\n');
  },
};

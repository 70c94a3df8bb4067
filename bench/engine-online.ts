// Guest side of bench/online.ts: the online/offline transition timed inside one node process,
// which is how daxramd runs it, so Node start-up and module loading (paid once per daemon, not
// per transition) stay out of the number compared with daxctl.
//
//   node dist/bench/engine-online.js cold DEV    print "engine.ready MS", then online DEV and
//                                                offline DEV {zero:false} (device left devdax)
//   node dist/bench/engine-online.js serve DEV   read "online", "offline" or "offline-zero" lines
//                                                on stdin, answer each with its time in ms
//
// Every line out is "KEY MS" (cold) or "MS" (serve); a failure is a message on stderr and exit 1,
// so the driving shell never records a time for a transition that did not complete.

import * as readline from 'node:readline';
import {performance} from 'node:perf_hooks';
import {offline, online} from '../daemon/engine';
import {quietLog, type Context} from '../daemon/engine/context';
import {engineContext} from '../daemon/cli/engine-args';
import {loadNative} from '../daemon/native';

// daxramd loads the addon at start (sd_notify, uevents), before its first transition.
loadNative();
const ready = performance.now();

// Built per transition, as both the CLI and the daemon do. Logging and progress go nowhere: the
// daemon has no progress callback and its log is not the CLI's stderr.
function context(): Context {
  return {...engineContext({}), log: quietLog, progress: undefined};
}

async function transition(op: string, dev: string): Promise<number> {
  const t0 = performance.now();
  if (op === 'online') {
    const r = await online(context(), dev);
    const ms = performance.now() - t0;
    if (!r.blocks.length || r.blocks.some((b) => b.state !== 'online')) throw new Error(`online ${dev}: blocks not all online: ${JSON.stringify(r.blocks)}`);
    return ms;
  }
  if (op === 'offline' || op === 'offline-zero') {
    const zero = op === 'offline-zero';
    const r = await offline(context(), dev, {zero});
    const ms = performance.now() - t0;
    if (r.driver !== 'device_dax') throw new Error(`offline ${dev}: driver ${r.driver}`);
    if (zero !== r.zeroed > 0n) throw new Error(`offline ${dev} zero=${zero}: zeroed ${r.zeroed}`);
    return ms;
  }
  throw new Error(`unknown op "${op}"`);
}

const fmt = (ms: number) => ms.toFixed(1);

async function main(): Promise<void> {
  const [mode, dev] = process.argv.slice(2);
  if (!dev || (mode !== 'cold' && mode !== 'serve')) throw new Error('usage: engine-online.js cold|serve DEV');
  if (mode === 'cold') {
    process.stdout.write(`engine.ready ${fmt(ready)}\n`);
    process.stdout.write(`engine.online-cold ${fmt(await transition('online', dev))}\n`);
    process.stdout.write(`engine.offline-nozero-first ${fmt(await transition('offline', dev))}\n`);
    return;
  }
  // One transition at a time: the shell waits for each answer before it runs daxctl.
  for await (const line of readline.createInterface({input: process.stdin, crlfDelay: Infinity})) {
    const op = line.trim();
    if (op === 'quit') break;
    process.stdout.write(`${fmt(await transition(op, dev))}\n`);
  }
}

main().then(
  // stdin may still hold the loop open after the last answer; stdout to a pipe or file is synchronous on Linux.
  () => process.exit(0),
  (e) => {
    process.stderr.write(`engine-online: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);

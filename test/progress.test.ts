// Long work shows its progress: the engine reports memory blocks as they go online or offline,
// the terminal line carries rate and time left and is wiped when the work ends.

import test from 'ava';
import {progressText, terminalProgress} from '../daemon/util/progress';
import {offline, online} from '../daemon/engine';
import {qemuSpec, testbed} from './helpers/engine-context';

const MiB = 1n << 20n;
const GiB = 1n << 30n;

test('progress text: blocks or bytes, with rate and time left once there is a rate to tell', (t) => {
  t.is(progressText('dax0.0', 'online', 0, 16, 0), 'dax0.0: online 0/16 blocks');
  t.is(progressText('dax0.0', 'online', 4, 16, 2000), 'dax0.0: online 4/16 blocks, 2 blocks/s, 6 s left');
  t.is(progressText('dax1.0', 'zero', 2 ** 30, 4 * 2 ** 30, 4000), 'dax1.0: zero 1.00 GiB of 4.00 GiB, 256.00 MiB/s, 12 s left');
  t.is(progressText('dax0.0', 'offline', 1, 1000, 1000), 'dax0.0: offline 1/1000 blocks, 1 block/s, 16 min 39 s left');
});

test('the terminal line is redrawn at most every interval and wiped at the end', (t) => {
  let now = 0;
  const out: string[] = [];
  const p = terminalProgress({write: (s) => out.push(s), now: () => now, minIntervalMs: 100});
  p.sink('dax0.0', 'online', 1, 4);
  now = 50;
  p.sink('dax0.0', 'online', 2, 4);
  now = 1000;
  p.sink('dax0.0', 'online', 3, 4);
  now = 1100;
  p.sink('dax0.0', 'online', 4, 4);
  t.deepEqual(out, ['\r\x1b[Kdaxram: dax0.0: online 1/4 blocks', '\r\x1b[Kdaxram: dax0.0: online 3/4 blocks, 3 blocks/s, 1 s left', '\r\x1b[K']);
  p.clear();
  t.is(out.length, 3, 'nothing left to wipe');
});

test('online and offline report every memory block, then the zeroing', async (t) => {
  const spec = qemuSpec({blockSize: 2n * MiB});
  spec.buses![0].regions![0].namespaces = [{mode: 'devdax', size: 24n * MiB, dax: {start: 8n * GiB, size: 16n * MiB}}];
  const tb = testbed(spec);
  t.teardown(tb.cleanup);
  const seen: string[] = [];
  const ctx = {...tb.ctx, lockWaitMs: 0, progress: (d: string, w: string, done: number, total: number) => seen.push(`${d} ${w} ${done}/${total}`)};
  await online(ctx, 'dax0.0');
  t.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `dax0.0 online ${i}/8`));
  seen.length = 0;
  await offline(ctx, 'dax0.0');
  t.deepEqual(seen.filter((s) => / offline /.test(s)), [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `dax0.0 offline ${i}/8`));
  t.is(seen[seen.length - 1], `dax0.0 zero ${16 << 20}/${16 << 20}`);
});

// The order blocks go online and offline in. After each, the kernel walks the zone from its
// first block until a hole (set_zone_contiguous): this models that walk and checks the orders
// keep it short, and that the engine writes the blocks in them.

import test from 'ava';
import {offlineOrder, onlineOrder} from '../daemon/engine/zone';
import {offline, online} from '../daemon/engine';
import {testbed} from './helpers/engine-context';

/** Blocks the walk visits after each step: from the lowest online block up to the first hole. */
function walks(steps: number[], start: Set<number>, going: 'online' | 'offline'): number {
  const on = new Set(start);
  let visited = 0;
  for (const id of steps) {
    if (going === 'online') on.add(id);
    else on.delete(id);
    if (!on.size) continue;
    let b = Math.min(...on);
    while (on.has(b)) {
      visited++;
      b++;
    }
  }
  return visited;
}

const range = (n: number) => Array.from({length: n}, (_, i) => 100 + i);

test('online and offline orders keep every walk short; ascending order makes them quadratic', (t) => {
  for (const n of [1, 2, 3, 7, 125, 1536]) {
    const ids = range(n);
    t.deepEqual([...onlineOrder(ids)].sort((a, b) => a - b), ids);
    t.deepEqual([...offlineOrder(ids)].sort((a, b) => a - b), ids);
    t.true(walks(onlineOrder(ids), new Set(), 'online') <= 3 * n, `online ${n}`);
    t.true(walks(offlineOrder(ids), new Set(ids), 'offline') <= 3 * n, `offline ${n}`);
  }
  t.is(walks(range(125), new Set(), 'online'), (125 * 126) / 2);
  t.deepEqual(onlineOrder([5, 3, 4, 6]), [3, 6, 5, 4]);
  t.deepEqual(offlineOrder([5, 3, 4, 6]), [4, 6, 5, 3]);
});

test('the engine writes block states in those orders', async (t) => {
  const tb = testbed();
  t.teardown(tb.cleanup);
  const r = await online(tb.ctx, 'dax0.0');
  const ids = r.blocks.map((b) => Number(b.name.slice(6)));
  const states = (v: string) => tb.k.writes.filter((w) => w.value === v && w.path.endsWith('/state')).map((w) => Number(/memory(\d+)/.exec(w.path)![1]));
  t.true(ids.length >= 3);
  t.deepEqual(states('online_movable'), onlineOrder(ids));
  await offline(tb.ctx, 'dax0.0', {zero: false});
  t.deepEqual(states('offline'), offlineOrder(ids));
});

// Weighted-interleave weights from the nodes' bandwidth (engine/interleave.ts) on a sysfs tree
// laid out as 6.12 and 7.x have it: written while managed RAM is online, recorded first,
// restored when it goes; left to the kernel where it has `auto`; left alone without numbers.

import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {doInterleave, INTERLEAVE_RECORD, weightsFromBandwidth} from '../daemon/engine/interleave';
import {Sysfs} from '../daemon/sysfs';

function tree(o: {auto?: boolean; nodes?: Record<number, number | undefined>} = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-iw-'));
  const state = path.join(root, 'state');
  const put = (p: string, v: string) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true});
    fs.writeFileSync(path.join(root, p), v + '\n');
  };
  put('proc/sys/kernel/random/boot_id', 'boot-a');
  put('sys/devices/system/node/has_cpu', '0');
  const wi = 'sys/kernel/mm/mempolicy/weighted_interleave';
  if (o.auto !== undefined) put(`${wi}/auto`, String(o.auto));
  for (const [n, bw] of Object.entries(o.nodes ?? {0: 20000, 1: 5000})) {
    put(`${wi}/node${n}`, '1');
    if (bw !== undefined) for (const a of ['read_bandwidth', 'write_bandwidth']) put(`sys/devices/system/node/node${n}/access0/initiators/${a}`, String(bw));
  }
  const read = (n: number) => fs.readFileSync(path.join(root, `${wi}/node${n}`), 'utf8').trim();
  return {root, state, sysfs: new Sysfs(root), read, put};
}

test('weights keep the bandwidth ratio in the smallest whole numbers, within a percent, each at least 1', (t) => {
  t.deepEqual([...weightsFromBandwidth(new Map([[0, 20000], [1, 5000]]))], [[0, 4], [1, 1]]);
  t.deepEqual([...weightsFromBandwidth(new Map([[0, 25600], [1, 6400], [2, 12800]]))], [[0, 4], [1, 1], [2, 2]]);
  t.deepEqual([...weightsFromBandwidth(new Map([[0, 30000], [1, 20000]]))], [[0, 3], [1, 2]]);
  const slow = weightsFromBandwidth(new Map([[0, 100000], [1, 100]]));
  t.is(slow.get(1), 1, 'a very slow node still gets 1');
  t.true(slow.get(0)! >= 91 && slow.get(0)! <= 100, String(slow.get(0)));
});

test('6.9-6.15: applied while managed RAM is online on node 1, recorded first, restored when it goes', (t) => {
  const k = tree();
  t.teardown(() => fs.rmSync(k.root, {recursive: true, force: true}));
  t.like(doInterleave(k.sysfs, k.state, true, []), {action: 'none', setBy: 'none'});
  const a = doInterleave(k.sysfs, k.state, true, [1]);
  t.like(a, {action: 'applied', setBy: 'daxram', weights: {node0: 4, node1: 1}});
  t.is(a.detail, 'node0 4 (20000 MB/s), node1 1 (5000 MB/s)');
  t.is(k.read(0), '4');
  t.like(JSON.parse(fs.readFileSync(path.join(k.state, INTERLEAVE_RECORD), 'utf8')), {before: {node0: 1}, bootId: 'boot-a'});
  t.like(doInterleave(k.sysfs, k.state, true, [1]), {action: 'none', setBy: 'daxram'}, 'idempotent');
  const r = doInterleave(k.sysfs, k.state, true, []);
  t.like(r, {action: 'restored', detail: 'node0 → 1'});
  t.is(k.read(0), '1');
  t.false(fs.existsSync(path.join(k.state, INTERLEAVE_RECORD)));
  // Turned off while applied (or a restart with it off): the record brings them back.
  doInterleave(k.sysfs, k.state, true, [1]);
  t.like(doInterleave(k.sysfs, k.state, false, [1]), {action: 'restored'});
  t.is(k.read(0), '1');
});

test('a record from an earlier boot is dropped: the kernel started from its defaults', (t) => {
  const k = tree();
  t.teardown(() => fs.rmSync(k.root, {recursive: true, force: true}));
  doInterleave(k.sysfs, k.state, true, [1]);
  k.put('proc/sys/kernel/random/boot_id', 'boot-b');
  k.put('sys/kernel/mm/mempolicy/weighted_interleave/node0', '7');
  t.like(doInterleave(k.sysfs, k.state, true, []), {action: 'none'});
  t.is(k.read(0), '7', 'what the operator set this boot is left alone');
  t.false(fs.existsSync(path.join(k.state, INTERLEAVE_RECORD)));
});

test('auto (6.16+): the kernel sets them; daxram writes nothing and reports who does', (t) => {
  const k = tree({auto: true});
  t.teardown(() => fs.rmSync(k.root, {recursive: true, force: true}));
  const o = doInterleave(k.sysfs, k.state, true, [1]);
  t.like(o, {action: 'none', auto: true, setBy: 'kernel'});
  t.is(k.read(0), '1');
  t.false(fs.existsSync(path.join(k.state, INTERLEAVE_RECORD)));
  const off = tree({auto: false});
  t.teardown(() => fs.rmSync(off.root, {recursive: true, force: true}));
  t.like(doInterleave(off.sysfs, off.state, true, [1]), {action: 'none', auto: false, setBy: 'none'}, 'an operator who turned auto off keeps their weights');
});

test('no bandwidth for a node: nothing is written; no weighted interleave (6.1): said so', (t) => {
  const k = tree({nodes: {0: 20000, 1: undefined}});
  t.teardown(() => fs.rmSync(k.root, {recursive: true, force: true}));
  const o = doInterleave(k.sysfs, k.state, true, [1]);
  t.like(o, {action: 'none'});
  t.regex(o.detail, /node1 has no access bandwidth/);
  t.is(k.read(0), '1');
  const old = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-iw-'));
  t.teardown(() => fs.rmSync(old, {recursive: true, force: true}));
  t.like(doInterleave(new Sysfs(old), path.join(old, 's'), true, [1]), {action: 'none', supported: false, detail: 'the kernel has no weighted interleave (6.9+)'});
});

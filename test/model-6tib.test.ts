// The 6 TiB fixture: 49,152 memory blocks of 128 MiB on two nodes, all of them kmem's.
// Counts must come out exact (the timing is bench/list.ts's business, not a test's).

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {memblockSummary, scanPlatform} from '../daemon/model/scan';
import {build6TiB, MiB, TiB} from './helpers/fixture';

// Building 49k directories takes 15-40 s on a loaded 2-core machine, and minutes on a busy
// disk: build in tmpfs (as bench/list.ts does) where there is one.
const SHM = '/dev/shm';

test('6 TiB: every block found, on the right node, linked to its device', (t) => {
  t.timeout(600_000);
  const fx = build6TiB(fs.existsSync(SHM) ? {dir: fs.mkdtempSync(path.join(SHM, 'daxram-fx-'))} : {});
  t.teardown(fx.cleanup);
  t.is(fx.blocks, 49152);
  const p = scanPlatform(fx.sysfs);
  t.deepEqual(p.warnings, []);
  t.is(p.devices.reduce((n, d) => n + d.memblocks.length, 0), 49152);
  t.is(p.devices.length, 2);
  for (const [i, d] of p.devices.entries()) {
    t.is(d.targetNode, i);
    t.is(d.kmemCapacity, 3n * TiB);
    t.is(d.kmemBlocks, 24576);
    t.deepEqual(memblockSummary(d), {online: 24576, total: 24576, movable: true});
    t.true([...d.memblocks].every((b) => b.node === i && b.state === 'online'));
    // The head lost to the 2 MiB data offset: the first block starts 128 MiB in.
    t.is([...d.memblocks][0].start, d.region!.resource + 128n * MiB);
    t.is(d.namespace?.name, `namespace${i}.0`);
  }
});

// daxramd's interleave-weights = on, through the daemon: the weights follow the nodes where the RAM
// it manages is online (daxramd/follow.ts, from the reports), and go back when that RAM goes.
// The weights' arithmetic and the kernels' layouts are in interleave.test.ts.

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {StateStore} from '../daemon/config/state';
import {deviceKey} from '../daemon/model/identity';
import {readDax} from '../daemon/model/dax';
import {daemonBed} from './helpers/daemon';
import {driver} from './helpers/engine-context';

test('weights are set for the node of the RAM daxramd onlined, and restored when the operator takes it back', async (t) => {
  const bed = daemonBed('[daemon]\nunmatched = ram\ninterleave-weights = on\n');
  t.teardown(bed.cleanup);
  const root = bed.tb.k.root;
  const put = (p: string, v: string) => {
    fs.mkdirSync(path.dirname(path.join(root, p)), {recursive: true});
    fs.writeFileSync(path.join(root, p), v + '\n');
  };
  const wi = 'sys/kernel/mm/mempolicy/weighted_interleave';
  for (const [n, bw] of [[0, 20000], [1, 5000]]) {
    put(`${wi}/node${n}`, '1');
    for (const a of ['read_bandwidth', 'write_bandwidth']) put(`sys/devices/system/node/node${n}/access0/initiators/${a}`, String(bw));
  }
  const weights = () => [0, 1].map((n) => fs.readFileSync(path.join(root, `${wi}/node${n}`), 'utf8').trim()).join(' ');
  await bed.d.start();
  t.is(driver(bed.tb.k), 'kmem');
  t.is(weights(), '4 1', 'DRAM 20 GB/s, the dax node 5 GB/s');
  // The operator takes it back to devdax: no managed RAM online, the weights go back.
  new StateStore(bed.tb.ctx.stateDir).record([{key: deviceKey(readDax(bed.tb.k, 'dax0.0', {blockSize: 0n})), device: 'dax0.0', mode: 'devdax', action: 'offline', at: new Date().toISOString()}]);
  await bed.d.reconcile('devdax');
  t.is(driver(bed.tb.k), 'device_dax');
  t.is(weights(), '1 1');
});

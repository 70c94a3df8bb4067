// Provisioning on a region that is a whole number of memory blocks, as on a real interleave set,
// where the capacity target is exactly region − one block. QEMU's NVDIMM is made 128 KiB larger
// so the label area it keeps at the end leaves region0 exactly 2 GiB.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

type Dax = {chardev: string; mode: string; online_memblocks?: number; movable?: boolean};

const ALIGNED = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
cat /sys/bus/nd/devices/region0/size > $O/region-size
cat /sys/devices/system/memory/block_size_bytes > $O/bs
# A CPU without machine-check recovery (SER_P clear, injected through the test entry point):
# the gate refuses before any write.
DAXRAM_TEST_SER_P=0 node dist/test-bundle/daxram.js provision region0 --json > $O/nomsr.json 2> $O/nomsr.err; echo $? > $O/nomsr.rc
ndctl list -N -r region0 > $O/nomsr-ns.json
# The real run reads MCG_CAP itself (msr is not loaded: daxram loads it).
dx provision region0 --json > $O/prov.json 2> $O/prov.err; echo $? > $O/prov.rc
daxctl list -D > $O/prov-dax.json
grep MemTotal /sys/devices/system/node/node1/meminfo > $O/node1
# Same namespace geometry, all devdax: the RAM device must come back (it once stayed online).
dx reassign region0 --ram 0 --json > $O/re0.json 2> $O/re0.err; echo $? > $O/re0.rc
daxctl list -D > $O/re0-dax.json
ndctl destroy-namespace -f -r region0 all > /dev/null 2>&1
touch $O/ndctl.err
for i in 1 2 3; do ndctl create-namespace -r region0 -m devdax -s 672M > /dev/null 2>> $O/ndctl.err || echo "create $i failed" >> $O/ndctl.err; done
echo offline > /sys/devices/system/memory/auto_online_blocks   # 6.12: daxctl refuses Movable under auto-online
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -m system-ram $d > /dev/null 2>> $O/daxctl.log; done
daxctl list -D > $O/ndctl-dax.json
`;

let a: GuestResult;
test.before(async () => {
  a = await runGuest({script: ALIGNED, blockAlignedRegion: true, timeoutMs: 1_200_000, keepOutDir: !!process.env.DAXRAM_KEEP_GUEST});
});

test('block-aligned region: provision onlines exactly region − one block (the target); ndctl+daxctl defaults fall short', (t) => {
  const g = (n: string) => a.readFile(n).trim();
  t.is(a.status, 0, a.stderr);
  const bs = parseInt(g('bs'), 16);
  const size = Number(g('region-size'));
  t.is(size, 16 * bs, 'region0 is 16 whole blocks');
  t.is(g('nomsr.rc'), '1', g('nomsr.err'));
  t.is(a.readJson<{code: string}>('nomsr.err').code, 'GATE_MCE_RECOVERY', 'with --json the error is JSON on stderr');
  t.is(g('nomsr-ns.json'), '', 'the refused provision created no namespace');
  t.is(g('prov.rc'), '0', g('prov.err'));
  const d = a.readJson<Dax[]>('prov-dax.json');
  t.is(d.length, 1);
  t.is(d[0].mode, 'system-ram');
  t.true(d[0].movable);
  const ours = (d[0].online_memblocks ?? 0) * bs;
  t.is(ours, size - bs);
  t.is(g('re0.rc'), '0', g('re0.err'));
  t.deepEqual(a.readJson<Dax[]>('re0-dax.json').map((x) => x.mode), ['devdax'], 'reassign --ram 0 returned the RAM device to devdax');
  t.is(g('ndctl.err'), '', 'ndctl could destroy our namespace and lay out its own');
  const theirs = a.readJson<Dax[]>('ndctl-dax.json').reduce((s, x) => s + (x.mode === 'system-ram' ? (x.online_memblocks ?? 0) * bs : 0), 0);
  const mib = (x: number) => x / 2 ** 20;
  t.log(`aligned region ${mib(size)} MiB: ours ${mib(ours)} MiB (target ${mib(size - bs)}), ndctl+daxctl 3×672M ${mib(theirs)} MiB`);
  t.true(theirs < ours);
});

// Region layout on the real kernel, with ndctl/daxctl as the oracle: provision an empty region
// (kmem capacity ≥ region − one block), reassign it to 512 MiB RAM + devdax, then all devdax,
// and the ndctl+daxctl default three-namespace layout for comparison.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
cat /sys/bus/nd/devices/region0/size > $O/region-size
cat /sys/devices/system/memory/block_size_bytes > $O/bs
dx provision region0 --dry-run > $O/prov-dry.txt 2>&1; echo $? > $O/prov-dry.rc
dx provision region0 --json > $O/prov.json 2> $O/prov.err; echo $? > $O/prov.rc
ndctl list -N -r region0 > $O/prov-ns.json
daxctl list -D > $O/prov-dax.json
dx reassign region0 --ram 512M --json > $O/re512.json 2> $O/re512.err; echo $? > $O/re512.rc
ndctl list -N -r region0 > $O/re512-ns.json
daxctl list -D > $O/re512-dax.json
dx reassign region0 --ram 512M --json > $O/re512b.json 2> $O/re512b.err; echo $? > $O/re512b.rc
dx reassign region0 --ram 0 --json > $O/re0.json 2> $O/re0.err; echo $? > $O/re0.rc
ndctl list -N -r region0 > $O/re0-ns.json
daxctl list -D > $O/re0-dax.json
ls /var/lib/daxram > $O/jdir
# The ndctl+daxctl default way: three namespaces, each reconfigured to system-ram.
ndctl destroy-namespace -f -r region0 all > /dev/null 2>&1
for i in 1 2 3; do ndctl create-namespace -r region0 -m devdax -s 672M > /dev/null || echo fail >> $O/ndctl.err; done
echo offline > /sys/devices/system/memory/auto_online_blocks   # 6.12: daxctl refuses Movable under auto-online
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -m system-ram $d > /dev/null 2>> $O/ndctl.err; done
daxctl list -D > $O/ndctl-dax.json
`;

let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, timeoutMs: 1_200_000, keepOutDir: !!process.env.DAXRAM_KEEP_GUEST});
  if (process.env.DAXRAM_KEEP_GUEST) console.error('guest results in', r.outDir);
});

const f = (n: string) => r.readFile(n).trim();
type Dax = {chardev: string; mode: string; size: number; online_memblocks?: number; total_memblocks?: number; movable?: boolean};
const dax = (n: string) => r.readJson<Dax[]>(n);
const onlined = (n: string, bs: number) => dax(n).reduce((a, d) => a + (d.mode === 'system-ram' ? (d.online_memblocks ?? 0) * bs : 0), 0);

test('provision: one RAM namespace, kmem onlines region size minus one block (daxctl agrees)', (t) => {
  t.is(r.status, 0, r.stderr);
  t.is(f('prov-dry.rc'), '0');
  t.regex(f('prov-dry.txt'), /map=dev: its .* fit in the 128\.00 MiB before the first block boundary/);
  t.is(f('prov.rc'), '0', f('prov.err'));
  const bs = parseInt(f('bs'), 16);
  const size = Number(f('region-size'));
  const d = dax('prov-dax.json');
  t.is(d.length, 1);
  t.is(d[0].mode, 'system-ram');
  t.is(d[0].online_memblocks, d[0].total_memblocks);
  t.true(d[0].movable);
  // QEMU's region ends 128 KiB short of a block (label area): its whole blocks minus one.
  t.is(onlined('prov-dax.json', bs), (Math.floor(size / bs) - 1) * bs);
  t.is(r.readJson<Array<{mode: string}>>('prov-ns.json')[0].mode, 'devdax');
});

test('reassign --ram 512M: 512 MiB online, the rest one devdax device; repeating it changes nothing; --ram 0 is all devdax', (t) => {
  const bs = parseInt(f('bs'), 16);
  t.is(f('re512.rc'), '0', f('re512.err'));
  const d = dax('re512-dax.json');
  t.is(d.length, 2);
  t.is(onlined('re512-dax.json', bs), 512 * 1024 * 1024);
  t.is(d.filter((x) => x.mode === 'devdax').length, 1);
  t.is(f('re512b.rc'), '0', f('re512b.err'));
  t.regex(JSON.stringify(r.readJson('re512b.json')), /already has this layout/);
  t.is(f('re0.rc'), '0', f('re0.err'));
  const z = dax('re0-dax.json');
  t.true(z.every((x) => x.mode === 'devdax'));
  t.false(f('jdir').split('\n').includes('layout.json'));
});

test('capacity: ours vs the ndctl+daxctl default three-namespace layout', (t) => {
  const bs = parseInt(f('bs'), 16);
  const size = Number(f('region-size'));
  const ours = onlined('prov-dax.json', bs);
  const theirs = onlined('ndctl-dax.json', bs);
  t.log(`region ${size >> 20} MiB: ours ${ours >> 20} MiB, ndctl+daxctl 3×672M ${theirs >> 20} MiB`);
  t.true(ours > theirs);
});

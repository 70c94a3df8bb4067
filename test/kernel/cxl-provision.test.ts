// CXL and hmem capacity as the operator moves it (6.12 + QEMU 10, two type-3 devices behind one
// host bridge; hmem on both kernels), cxl list and daxctl as the oracles:
//   provision mem0,mem1 → a 2-way interleaved RAM region (1 GiB of two 512 MiB devices), onlined Movable on its node (the
//     node's MemTotal grows by exactly the region), with the kernel's own auto_online_blocks=online;
//   reassign region0 --ram 512M, then --ram 0 → daxctl shows exactly that split;
//   release region0 → no region, every endpoint decoder's DPA free; the full capacity can be
//     provisioned again;
//   a run killed after each phase (create, decoders, commit, bind; release's reset; reassign's
//     resize) converges with `daxram recover`: a working region or free capacity, never a
//     half-programmed decoder.
// hmem: reassign hmem.N --ram 128M, then 0, on 6.1 and 6.12.

import anyTest from 'ava';
import {HMEM_RANGE_ARG, kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_FREE_STATE, CXL_PROVISION_DEVDAX} from './cxl';

const cxlTest = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3 and QEMU >= 8.1'});
const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const CHECK_FREE = String.raw`${CXL_FREE_STATE}
# working: a committed region whose dax device is System RAM with every block online
work_state() {
  R=$(ls /sys/bus/cxl/devices | grep '^region' | head -1)
  [ -n "$R" ] || { echo none; return; }
  D=$(ls -d /sys/bus/cxl/devices/$R/dax_region*/dax*.0 2>/dev/null | head -1)
  echo "$R commit=$(cat /sys/bus/cxl/devices/$R/commit) $(daxctl list -d $(basename $D) | tr -d ' \n' | grep -o '"mode":"[a-z-]*"\|"online_memblocks":[0-9]*\|"total_memblocks":[0-9]*\|"movable":[a-z]*' | tr '\n' ' ')"
}
`;

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
dxk() { node dist/test-bundle/daxram.js "$@"; }
modprobe msr
${CHECK_FREE}
${CXL_PROVISION_DEVDAX}
# cxl_mem attaches the endpoints a moment after the modules load.
for i in $(seq 1 120); do [ "$(ls -d /sys/bus/cxl/devices/endpoint*/decoder*.0 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done
memn() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node2/meminfo 2>/dev/null || echo 0; }
cat /sys/devices/system/memory/auto_online_blocks > $O/auto
dx provision mem0,mem1 --dry-run > $O/dry.txt 2>&1; echo $? > $O/dry.rc
free_state > $O/dry-free
m0=$(memn)
dx provision mem0,mem1 --json > $O/prov.json 2> $O/prov.err; echo $? > $O/prov.rc
m1=$(memn); echo $((m1 - m0)) > $O/grew-kb
cxl list -R -u > $O/cxl-region.json
cxl list -D -d endpoint -u > $O/cxl-ep.json 2>&1
daxctl list -D > $O/prov-daxctl.json
dx provision mem0,mem1 > /dev/null 2> $O/again.err; echo $? > $O/again.rc
dx reassign region0 --ram 512M --json > $O/re512.json 2> $O/re512.err; echo $? > $O/re512.rc
daxctl list -D > $O/re512-daxctl.json
dx reassign region0 --ram 0 --json > $O/re0.json 2> $O/re0.err; echo $? > $O/re0.rc
daxctl list -D > $O/re0-daxctl.json
dx release region0 --json > $O/rel.json 2> $O/rel.err; echo $? > $O/rel.rc
free_state > $O/rel-free
cxl list -R > $O/rel-cxl.json
dx provision mem0,mem1 --json > $O/prov2.json 2> $O/prov2.err; echo $? > $O/prov2.rc
dx release region0 --no-zero > /dev/null 2>&1; free_state > $O/prov2-free

# Killed after each phase, then recovered.
for K in create decoders commit bind; do
  DAXRAM_TEST_KILL_AFTER=$K dxk provision mem0,mem1 > /dev/null 2>&1; echo $? > $O/kill-$K.rc
  cp /var/lib/daxram/layout.json $O/kill-$K.journal 2>/dev/null
  free_state > $O/kill-$K.mid
  dx recover --json > $O/kill-$K.recover.json 2> $O/kill-$K.recover.err; echo $? > $O/kill-$K.recover.rc
  free_state > $O/kill-$K.free; work_state > $O/kill-$K.work
  ls /var/lib/daxram | grep 'journal\|layout' > $O/kill-$K.jdir
  dx release region0 --no-zero > /dev/null 2>&1
done
# From a devdax region: the resize is the step under test (re512 above offlines and zeroes).
provision_devdax mem0,mem1 $O/kill-resize.prov.json
DAXRAM_TEST_KILL_AFTER=resize dxk reassign region0 --ram 512M > /dev/null 2>&1; echo $? > $O/kill-resize.rc
dx recover --json > $O/kill-resize.recover.json 2> $O/kill-resize.recover.err; echo $? > $O/kill-resize.recover.rc
daxctl list -D > $O/kill-resize.daxctl.json
DAXRAM_TEST_KILL_AFTER=destroy dxk release region0 > /dev/null 2>&1; echo $? > $O/kill-destroy.rc
free_state > $O/kill-destroy.mid
dx recover --json > $O/kill-destroy.recover.json 2> $O/kill-destroy.recover.err; echo $? > $O/kill-destroy.recover.rc
free_state > $O/kill-destroy.free
`;

type J = Record<string, any>;
let r: GuestResult;
cxlTest.before(async () => {
  r = await runGuest({script: SCRIPT, cxl: {memdevs: 2}, nvdimm: false, timeoutMs: 1_200_000});
});
const f = (n: string) => r.readFile(n).trim();
const GiB = 1 << 30;
const MiB = 1 << 20;

cxlTest('provision mem0,mem1: a 2-way interleaved RAM region, Movable on its node, exactly its size, cxl list agrees', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.is(f('auto'), 'online', "the kernel's own policy: it would online the region Normal");
  t.is(f('dry.rc'), '0', f('dry.txt'));
  t.regex(f('dry.txt'), /interleave: 2 way\(s\), 256 B granularity/);
  t.regex(f('dry.txt'), /write "1" > \/sys\/bus\/cxl\/devices\/region0\/commit/);
  t.is(f('dry-free'), 'regions=0 dpa=0', 'a dry run writes nothing');
  t.is(f('prov.rc'), '0', f('prov.err'));
  const p = r.readJson<J>('prov.json');
  t.like(p, {region: 'region0', rootDecoder: 'decoder0.0', memdevs: ['mem0', 'mem1'], ways: 2, granularity: 256, size: GiB});
  const region = r.readJson<J>('cxl-region.json');
  const cr = Array.isArray(region) ? region[0] : region;
  t.like(cr, {region: 'region0', interleave_ways: 2, interleave_granularity: 256, decode_state: 'commit', resource: '0x590000000'});
  t.is(f('grew-kb'), String(GiB / 1024), 'node 2 MemTotal grew by exactly the region');
  const d = r.readJson<J[]>('prov-daxctl.json');
  t.is(d.length, 1);
  t.like(d[0], {mode: 'system-ram', size: GiB, target_node: 2, movable: true, online_memblocks: 8, total_memblocks: 8});
  t.is(f('again.rc'), '2', 'a usage error');
  t.regex(f('again.err'), /mem0 has no free volatile capacity[\s\S]*daxram release region0/);
});

cxlTest('reassign region0 --ram 512M then --ram 0 lands exactly (daxctl)', (t) => {
  t.is(f('re512.rc'), '0', f('re512.err'));
  const byName = (l: J[]) => Object.fromEntries(l.map((d) => [d.chardev, d]));
  const a = byName(r.readJson<J[]>('re512-daxctl.json'));
  t.like(a['dax0.0'], {mode: 'system-ram', size: 512 * MiB, movable: true, online_memblocks: 4, total_memblocks: 4});
  t.like(a['dax0.1'], {mode: 'devdax', size: 512 * MiB});
  t.is(f('re0.rc'), '0', f('re0.err'));
  const b = r.readJson<J[]>('re0-daxctl.json');
  t.is(b.length, 1, JSON.stringify(b));
  t.like(b[0], {chardev: 'dax0.0', mode: 'devdax', size: GiB});
});

cxlTest('release region0 frees both memdevs: no region, no DPA held, the whole capacity provisions again', (t) => {
  t.is(f('rel.rc'), '0', f('rel.err'));
  const rel = r.readJson<J>('rel.json');
  t.deepEqual(rel.freed.map((x: J) => [x.memdev, x.bytes]).sort(), [['mem0', 512 * MiB], ['mem1', 512 * MiB]]);
  t.is(f('rel-free'), 'regions=0 dpa=0');
  t.is(f('prov2.rc'), '0', f('prov2.err'));
  t.is(r.readJson<J>('prov2.json').size, GiB);
  t.is(f('prov2-free'), 'regions=0 dpa=0');
});

cxlTest('a provision, reassign or release killed after any phase converges with daxram recover: a working region or free capacity', (t) => {
  for (const k of ['create', 'decoders', 'commit', 'bind']) {
    t.is(f(`kill-${k}.rc`), '137', `killed after ${k}`);
    t.true(r.readFile(`kill-${k}.journal`).includes('"cxl-provision"'), `${k}: journal written`);
    t.is(f(`kill-${k}.recover.rc`), '0', f(`kill-${k}.recover.err`));
    const free = f(`kill-${k}.free`);
    const work = f(`kill-${k}.work`);
    if (k === 'create' || k === 'decoders') {
      t.is(free, 'regions=0 dpa=0', `${k}: torn down (mid-state was ${f(`kill-${k}.mid`)})`);
    } else {
      t.regex(work, /^region0 commit=1 "mode":"system-ram" "online_memblocks":8 "total_memblocks":8 "movable":true/, `${k}: committed, so finished: ${work}`);
    }
    t.is(f(`kill-${k}.jdir`), '', `${k}: journal cleared`);
  }
  t.regex(f('kill-resize.rc'), /^137$/);
  t.is(f('kill-resize.recover.rc'), '0', f('kill-resize.recover.err'));
  const a = Object.fromEntries(r.readJson<J[]>('kill-resize.daxctl.json').map((d) => [d.chardev, d]));
  t.like(a['dax0.0'], {mode: 'system-ram', size: 512 * MiB, online_memblocks: 4});
  t.like(a['dax0.1'], {mode: 'devdax', size: 512 * MiB});
  t.is(f('kill-destroy.rc'), '137');
  t.is(f('kill-destroy.recover.rc'), '0', f('kill-destroy.recover.err'));
  t.is(f('kill-destroy.free'), 'regions=0 dpa=0', `mid-state was ${f('kill-destroy.mid')}`);
});

const HMEM = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
H=$(ls /sys/bus/platform/devices | grep '^hmem\.' | head -1); echo $H > $O/hmem
dx reassign $H --ram 128M --json > $O/re128.json 2> $O/re128.err; echo $? > $O/re128.rc
daxctl list -D > $O/re128-daxctl.json
dx reassign $H --ram 128M > /dev/null 2> $O/again.err; echo $? > $O/again.rc
dx reassign $H --ram 0 --json > $O/re0.json 2> $O/re0.err; echo $? > $O/re0.rc
daxctl list -D > $O/re0-daxctl.json
dx reassign $H --ram 384M > /dev/null 2> $O/big.err; echo $? > $O/big.rc
`;

test('hmem: reassign hmem.N --ram 128M then --ram 0 lands exactly (daxctl)', async (t) => {
  const g = await runGuest({script: HMEM, kernelArgs: [HMEM_RANGE_ARG], nvdimm: false, timeoutMs: 600_000});
  t.is(g.status, 0, g.stderr);
  const h = (n: string) => g.readFile(n).trim();
  t.is(h('re128.rc'), '0', h('re128.err'));
  const l = g.readJson<J[]>('re128-daxctl.json');
  t.is(l.length, 2, JSON.stringify(l));
  const ram = l.find((d) => d.mode === 'system-ram');
  const dd = l.find((d) => d.mode === 'devdax');
  t.like(ram, {size: 128 * MiB, online_memblocks: 1, total_memblocks: 1, movable: true});
  t.like(dd, {size: 128 * MiB});
  t.regex(ram?.chardev ?? '', /^dax\d+\.0$/);
  t.is(h('again.rc'), '0', 'the same layout again is a no-op');
  t.is(h('re0.rc'), '0', h('re0.err'));
  const z = g.readJson<J[]>('re0-daxctl.json');
  t.is(z.length, 1, JSON.stringify(z));
  t.like(z[0], {mode: 'devdax', size: 256 * MiB});
  t.is(h('big.rc'), '2', 'a usage error');
  t.regex(h('big.err'), /--ram 384\.00 MiB does not fit: the region holds 256\.00 MiB of whole 128\.00 MiB memory blocks/);
});

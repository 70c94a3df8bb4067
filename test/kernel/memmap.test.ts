// Struct pages and DRAM (memmap = device | dram). One 1 GiB devdax namespace (7 whole blocks) on the QEMU
// NVDIMM (memory-only node 1), onlined by daxctl (its default: struct pages in DRAM) and by
// daxram (default memmap = device), node 0's free DRAM measured around each:
//   - 6.12 booted with memory_hotplug.memmap_on_memory=1: daxram's DRAM cost is at most a tenth
//     of daxctl's, and node 1 shows where the struct pages went (its MemTotal grows by the
//     capacity less 2 MiB per block); memmap = dram behaves like daxctl;
//   - without the switch (6.1 and 6.12): --dry-run and list say why the struct pages are in
//     DRAM and how much the switch would save.

import anyTest from 'ava';
import {guestSeries, kernelTest, runGuest} from './harness';

const test612 = kernelTest(anyTest, {kernels: ['6.12'], why: 'a device\'s memmap_on_memory needs kernel 6.8 or later'});
const test = kernelTest(anyTest, {kernels: ['6.1', '6.12']});

const MEASURE = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
# Node 0's free DRAM with the page cache dropped, settled: median of three samples (kB).
free0() {
  sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1
  for i in 1 2 3; do awk '/MemFree/ {print $4}' /sys/devices/system/node/node0/meminfo; sleep 0.5; done | sort -n | sed -n 2p
}
total1() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node1/meminfo 2>/dev/null || echo 0; }
cat /sys/module/memory_hotplug/parameters/memmap_on_memory > $O/param
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns.json || exit 10
cat /sys/bus/dax/devices/dax0.0/memmap_on_memory > $O/attr0 2>&1
# Warm-up: the first kmem bind loads modules and sizes caches; neither is the memmap.
daxctl reconfigure-device -m system-ram dax0.0 > /dev/null 2>&1
daxctl reconfigure-device -f -m devdax dax0.0 > /dev/null 2>&1
measure() { # name, command...
  n=$1; shift
  a=$(free0); t0=$(total1)
  "$@" > $O/$n.out 2> $O/$n.err; echo $? > $O/$n.rc
  b=$(free0); t1=$(total1)
  echo "$((a - b)) $((t1 - t0))" > $O/$n.kb
  daxctl list -d dax0.0 > $O/$n.json
}
back() { daxctl reconfigure-device -f -m devdax dax0.0 > /dev/null 2>&1 || dx offline dax0.0 --zero=false > /dev/null 2>&1; }
measure daxctl daxctl reconfigure-device -m system-ram dax0.0; back
measure device dx online dax0.0 --json; cat /sys/bus/dax/devices/dax0.0/memmap_on_memory > $O/attr-device; dx offline dax0.0 > /dev/null 2>&1
measure dram dx online dax0.0 --memmap dram --json; cat /sys/bus/dax/devices/dax0.0/memmap_on_memory > $O/attr-dram
dx list > $O/list.txt 2>&1
`;

test612('with memory_hotplug.memmap_on_memory=1, daxram puts struct pages on the device: its DRAM cost is at most a tenth of daxctl\'s', async (t) => {
  // daxctl refuses to reconfigure while the kernel would online the blocks itself (6.12's default).
  const r = await runGuest({script: MEASURE, kernelArgs: ['memory_hotplug.memmap_on_memory=1', 'memhp_default_state=offline'], timeoutMs: 900_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('param'), 'Y');
  for (const n of ['daxctl', 'device', 'dram']) t.is(f(`${n}.rc`), '0', `${n}: ${f(`${n}.err`)}`);
  const kb = (n: string) => f(`${n}.kb`).split(' ').map(Number);
  const [dDaxctl, tDaxctl] = kb('daxctl');
  const [dDevice, tDevice] = kb('device');
  const [dDram, tDram] = kb('dram');
  t.log(`node 0 DRAM used (kB): daxctl ${dDaxctl}, memmap=device ${dDevice}, memmap=dram ${dDram}; node 1 MemTotal grew (kB): ${tDaxctl}, ${tDevice}, ${tDram}`);
  // 1 GiB = 8 blocks of 128 MiB; 2 MiB of struct pages each.
  const blocks = r.readJson<Array<{total_memblocks: number}>>('device.json')[0].total_memblocks;
  t.true(dDaxctl >= blocks * 2048 * 0.9, `daxctl's struct pages come from DRAM: ${dDaxctl} kB`);
  t.true(dDevice <= dDaxctl / 10, `ours ${dDevice} kB vs daxctl ${dDaxctl} kB`);
  t.is(f('attr-device'), '1');
  t.is(tDevice, tDaxctl - blocks * 2048, 'the struct pages sit on node 1 itself: 2 MiB of each block');
  t.is(f('attr-dram'), '0');
  t.is(tDram, tDaxctl);
  t.true(dDram >= blocks * 2048 * 0.9, `memmap = dram costs DRAM like daxctl: ${dDram} kB`);
  t.regex(f('list.txt'), /struct pages of dax System RAM: 14\.00 MiB in DRAM, 0 B on the devices/);
});

const EXPLAIN = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > /dev/null || exit 10
dx online dax0.0 --dry-run > $O/dry.txt 2>&1; echo $? > $O/dry.rc
dx online dax0.0 > /dev/null 2> $O/online.err; echo $? > $O/online.rc
dx list > $O/list.txt 2>&1
`;

test('without the boot switch, --dry-run and list say where the struct pages are and what the switch would save', async (t) => {
  const r = await runGuest({script: EXPLAIN, timeoutMs: 600_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('dry.rc'), '0');
  t.is(f('online.rc'), '0', f('online.err'));
  t.regex(f('dry.txt'), /memmap: 14\.00 MiB of struct pages for dax0\.0 in DRAM/);
  t.regex(f('list.txt'), /struct pages of dax System RAM: 14\.00 MiB in DRAM, 0 B on the devices; /);
  if (guestSeries() === '6.12') {
    t.regex(f('dry.txt'), /warning: memmap = device: booting with memory_hotplug\.memmap_on_memory=1 would put dax0\.0's struct pages on the device and save 14\.00 MiB of DRAM/);
    t.regex(f('list.txt'), /memory_hotplug\.memmap_on_memory=1 would move 14\.00 MiB off DRAM/);
  } else {
    t.regex(f('dry.txt'), /6\.8 or later/);
    t.regex(f('list.txt'), /no per-device memmap_on_memory \(6\.8\+\)/);
  }
});

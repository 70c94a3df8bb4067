// Struct pages and DRAM (memmap = device | dram). One 1 GiB devdax namespace (7 whole blocks) on
// the QEMU NVDIMM (memory-only node 1), onlined by daxctl (its default for pmem: struct pages
// in DRAM) and by daxram (default memmap = device):
//   - 6.12 booted with memory_hotplug.memmap_on_memory=1: the struct pages daxram's online
//     costs in DRAM are at most a tenth of daxctl's, and memmap = dram behaves like daxctl;
//   - without the switch (6.1 and 6.12): --dry-run and list say why the struct pages are in
//     DRAM and how much the switch would save.
// Node 0's free DRAM is counted as the kernel holds it: free pages plus the pages parked on the
// per-CPU lists (/proc/zoneinfo's pageset counts), which MemFree leaves out and which move by
// megabytes between two samples; page cache dropped first. Node 1's MemTotal shows where the
// struct pages went: it grows by the capacity less what went on the device itself.

import anyTest from 'ava';
import {guestSeries, kernelTest, runGuest} from './harness';
import {NODE0_FREE} from './memsnap';

const test612 = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'a device\'s memmap_on_memory needs kernel 6.8 or later'});
const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const MEASURE = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
${NODE0_FREE}
total1() { total 1; }
cat /sys/module/memory_hotplug/parameters/memmap_on_memory > $O/param
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns.json || exit 10
# Warm-up: the first kmem bind loads modules and sizes caches; neither is the memmap.
daxctl reconfigure-device -m system-ram dax0.0 > /dev/null 2>&1
daxctl reconfigure-device -f -m devdax dax0.0 > /dev/null 2>&1
measure() { # name, command...: node 0 DRAM used kB, node 1 MemTotal growth kB
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

test612('with memory_hotplug.memmap_on_memory=1, daxram puts struct pages on the device: their DRAM cost is at most a tenth of daxctl\'s', async (t) => {
  // daxctl refuses to reconfigure while the kernel would online the blocks itself (6.12's default).
  const r = await runGuest({script: MEASURE, kernelArgs: ['memory_hotplug.memmap_on_memory=1', 'memhp_default_state=offline'], timeoutMs: 900_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('param'), 'Y');
  for (const n of ['daxctl', 'device', 'dram']) t.is(f(`${n}.rc`), '0', `${n}: ${f(`${n}.err`)}`);
  const blocks = r.readJson<Array<{total_memblocks: number}>>('device.json')[0].total_memblocks;
  const capacity = blocks * 128 * 1024;
  const kb = (n: string) => {
    const [dram, grew] = f(`${n}.kb`).split(' ').map(Number);
    return {dram, onDevice: capacity - grew};
  };
  const d = {daxctl: kb('daxctl'), device: kb('device'), dram: kb('dram')};
  t.log(`node 0 DRAM used / struct pages on the device (kB): ${Object.entries(d).map(([k, v]) => `${k} ${v.dram} / ${v.onDevice}`).join(', ')}`);
  const memmap = blocks * 2048; // 2 MiB of struct pages per 128 MiB block
  t.true(d.daxctl.dram >= memmap * 0.9, `daxctl's struct pages come from DRAM: ${d.daxctl.dram} kB`);
  t.is(d.daxctl.onDevice, 0);
  t.true(d.device.dram <= d.daxctl.dram / 10, `ours ${d.device.dram} kB vs daxctl ${d.daxctl.dram} kB`);
  t.is(d.device.onDevice, memmap, 'on node 1 itself: 2 MiB of each block');
  t.is(f('attr-device'), '1');
  t.is(f('attr-dram'), '0');
  t.true(d.dram.dram >= memmap * 0.9, `memmap = dram costs DRAM like daxctl: ${d.dram.dram} kB`);
  t.is(d.dram.onDevice, 0);
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
  if (guestSeries() !== '6.1') {
    t.regex(f('dry.txt'), /warning: memmap = device: booting with memory_hotplug\.memmap_on_memory=1 would put dax0\.0's struct pages on the device and save 14\.00 MiB of DRAM/);
    t.regex(f('list.txt'), /memory_hotplug\.memmap_on_memory=1 would move 14\.00 MiB off DRAM/);
  } else {
    t.regex(f('dry.txt'), /6\.8 or later/);
    t.regex(f('list.txt'), /no per-device memmap_on_memory \(6\.8\+\)/);
  }
});

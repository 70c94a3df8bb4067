// Bench: what onlining costs in DRAM, and what `provision` gets out of CXL memdevs. 6.12
// guests booted with memory_hotplug.memmap_on_memory=1 (the switch daxram's default
// memmap = device needs). Per GiB onlined: node 0's DRAM used, counted as the kernel holds it
// (free pages plus the pages parked on per-CPU lists, which MemFree leaves out and which move
// by megabytes between samples; page cache dropped; median of five samples), and the struct
// pages that went on the device itself (the target node's MemTotal grows by the capacity less
// those).
//   pmem: a 1 GiB devdax namespace on the QEMU NVDIMM, onlined by
//     daxctl reconfigure-device (the anchor: its default keeps struct pages in DRAM),
//     daxram online (memmap = device), daxram online --memmap dram;
//   cxl: a 2 GiB RAM region of two type-3 devices made by daxram provision (memmap = device),
//     then the same device re-onlined by daxctl (the kernel's own CXL default is also
//     memmap_on_memory=1) and by daxram --memmap dram.
// Capacity: `provision mem0,mem1` onlines every block of the 2 GiB interleaved region (target:
// region size / block size).
// Run: `npx tsc -p tsconfig.json && node dist/bench/dram.js`. Prints one JSON.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {runGuest, type GuestResult} from '../test/kernel/harness';
import {NODE0_FREE} from '../test/kernel/memsnap';

const PRELUDE = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
modprobe msr
${NODE0_FREE}
measure() { # key device command...: key, node 0 DRAM used kB, struct pages on the device kB, blocks
  k=$1; d=$2; shift 2
  n=$(cat /sys/bus/dax/devices/$d/target_node)
  a=$(free0); t0=$(total $n)
  "$@" > /dev/null 2>> $O/err || { echo "$k failed" >> $O/err; exit 20; }
  b=$(free0); t1=$(total $n)
  blocks=$(daxctl list -d $d | grep -o '"online_memblocks":[0-9]*' | cut -d: -f2)
  echo "$k $((a - b)) $((blocks * 131072 - (t1 - t0))) $blocks" >> $O/m
}
back() { daxctl reconfigure-device -f -m devdax $1 > /dev/null 2>> $O/err || exit 21; }
`;

const PMEM = String.raw`
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > /dev/null 2>> $O/err || exit 10
daxctl reconfigure-device -m system-ram dax0.0 > /dev/null 2>&1; back dax0.0   # warm-up
for i in 1 2; do
  measure pmem.daxctl dax0.0 daxctl reconfigure-device -m system-ram dax0.0; back dax0.0
  measure pmem.device dax0.0 dx online dax0.0; dx offline dax0.0 --zero=false > /dev/null
  measure pmem.dram dax0.0 dx online dax0.0 --memmap dram; dx offline dax0.0 --zero=false > /dev/null
done
`;

const CXL = String.raw`
a=$(free0); t0=$(total 2)
dx provision mem0,mem1 --json > $O/prov.json 2>> $O/err || exit 11
b=$(free0); t1=$(total 2)
D=$(sed -n 's/.*"daxDevice": *"\([^"]*\)".*/\1/p' $O/prov.json | head -1)
daxctl list -d $D > $O/prov-daxctl.json
blocks=$(daxctl list -d $D | grep -o '"online_memblocks":[0-9]*' | cut -d: -f2)
echo "cxl.provision $((a - b)) $((blocks * 131072 - (t1 - t0))) $blocks" >> $O/m
cat /sys/bus/cxl/devices/region0/size > $O/region-size
dx offline $D --zero=false > /dev/null
for i in 1 2; do
  measure cxl.daxctl $D daxctl reconfigure-device -m system-ram $D; back $D
  measure cxl.device $D dx online $D; dx offline $D --zero=false > /dev/null
  measure cxl.dram $D dx online $D --memmap dram; dx offline $D --zero=false > /dev/null
done
`;

async function guest(script: string, what: string, opts: Omit<Parameters<typeof runGuest>[0], 'script'>): Promise<GuestResult> {
  const r = await runGuest({...opts, script, keepOutDir: true});
  process.stderr.write(`${what}: guest results in ${r.outDir}\n`);
  if (r.status !== 0) throw new Error(`${what}: guest script failed (${r.status}):\n${fs.existsSync(path.join(r.outDir, 'err')) ? r.readFile('err') : ''}\n${r.stderr}`);
  return r;
}

/** Per key, KiB per GiB onlined (8 blocks of 128 MiB): node 0 DRAM used, struct pages on the device. */
function perGiB(r: GuestResult): Record<string, {dram: number; onDevice: number}> {
  const acc = new Map<string, {d: number[]; o: number[]}>();
  for (const line of r.readFile('m').trim().split('\n')) {
    const [k, dram, onDevice, blocks] = line.split(' ');
    const a = acc.get(k) ?? {d: [], o: []};
    a.d.push((Number(dram) * 8) / Number(blocks));
    a.o.push((Number(onDevice) * 8) / Number(blocks));
    acc.set(k, a);
  }
  const med = (v: number[]) => Math.round([...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]);
  const out: Record<string, {dram: number; onDevice: number}> = {};
  for (const [k, v] of acc) out[k] = {dram: med(v.d), onDevice: med(v.o)};
  return out;
}

async function main(): Promise<void> {
  process.env.DAXRAM_GUEST_KERNEL = '6.12';
  const args = ['memory_hotplug.memmap_on_memory=1'];
  const pmem = await guest(PRELUDE + PMEM, 'pmem', {kernelArgs: [...args, 'memhp_default_state=offline'], timeoutMs: 1_200_000});
  const cxl = await guest(PRELUDE + CXL, 'cxl', {kernelArgs: [...args, 'memhp_default_state=offline'], cxl: {memdevs: 2, sizeMiB: 1024}, nvdimm: false, timeoutMs: 1_200_000});
  const p = perGiB(pmem);
  const c = perGiB(cxl);
  const ratio = (a: {dram: number}, b: {dram: number}) => Math.round((a.dram / b.dram) * 1000) / 1000;
  const regionBytes = Number(cxl.readFile('region-size').trim());
  const onlined = cxl.readJson<Array<{online_memblocks: number}>>('prov-daxctl.json')[0].online_memblocks;
  const result = {
    kernel: '6.12, memory_hotplug.memmap_on_memory=1',
    dramKiBPerGiBOnlined: {pmem: p, cxl: c},
    ratioToDaxctl: {
      pmemMemmapDevice: ratio(p['pmem.device'], p['pmem.daxctl']),
      pmemMemmapDram: ratio(p['pmem.dram'], p['pmem.daxctl']),
      // dax_cxl creates CXL devices with memmap_on_memory=1, so daxctl gets the device there too:
      // the CXL anchor is the same device with its struct pages in DRAM.
      cxlMemmapDeviceVsDram: ratio(c['cxl.device'], c['cxl.dram']),
      cxlDaxctlVsDram: ratio(c['cxl.daxctl'], c['cxl.dram']),
      cxlProvisionVsDram: ratio(c['cxl.provision'], c['cxl.dram']),
    },
    cxlProvision: {regionBytes, blocksOnlined: onlined, targetBlocks: regionBytes / (128 * 2 ** 20), dramKiBPerGiB: c['cxl.provision']},
    unit: 'KiB per GiB onlined; ratios compare node 0 DRAM used',
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

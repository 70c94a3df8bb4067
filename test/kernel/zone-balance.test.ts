// The zone-balance gate on a real kernel (QEMU NVDIMM on memory-only node 1; node 0 has the
// guest's DRAM and CPU): daxram reads the zones from /proc/zoneinfo as the kernel fills them, so
// the ratio it prints is checked against zoneinfo itself, before and after. The lab guest's
// 2 GiB of DRAM against a 1 GiB namespace is far within the default 3:1, so
// the limits are set low on the command line, as an operator would on a box with little DRAM:
//   --zone-ratio 0.1            refused, nothing changes; --dry-run shows the ratio it refuses;
//   --zone-balance split        the lowest blocks online Normal, the rest Movable, total within 0.1;
//   --cpuless refuse            node 1 has no CPUs, demotion is off and there is no swap: refused;
//   the defaults                onlined Movable with the CPU-less warning.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
# Bytes present per zone kind, straight from the kernel: "movable kernel".
zones() { awk '/^Node/ {z=$4} /^ +present/ {if (z=="Movable") m+=$2; else if (z!="Device") k+=$2} END {printf "%.0f %.0f\n", m*4096, k*4096}' /proc/zoneinfo; }
blockzones() {
  BS=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
  S=$(($(cat /sys/bus/dax/devices/dax0.0/mapping0/start))); E=$((S + $(cat /sys/bus/dax/devices/dax0.0/size)))
  i=$(( (S + BS - 1) / BS )); while [ $(( (i + 1) * BS )) -le $E ]; do printf '%s ' "$(cat /sys/devices/system/memory/memory$i/valid_zones)"; i=$((i + 1)); done; echo
}
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns.json || exit 10
cat /sys/kernel/mm/numa/demotion_enabled > $O/demotion 2>&1
awk '/SwapTotal/ {print $2}' /proc/meminfo > $O/swap
cat /sys/devices/system/node/has_cpu > $O/has-cpu
zones > $O/zones0
dx list > $O/list.txt 2>&1
dx list --json -T > $O/list.json 2> $O/list.err
dx online dax0.0 --zone-ratio 0.1 --dry-run > $O/dry.txt 2>&1; echo $? > $O/dry.rc
dx online dax0.0 --zone-ratio 0.1 --json > /dev/null 2> $O/refused.err; echo $? > $O/refused.rc
daxctl list -d dax0.0 > $O/refused-daxctl.json
dx online dax0.0 --cpuless refuse --json > /dev/null 2> $O/cpuless.err; echo $? > $O/cpuless.rc
dx online dax0.0 --json > $O/default.json 2> $O/default.err; echo $? > $O/default.rc
blockzones > $O/default-zones
dx offline dax0.0 --no-zero > /dev/null 2> $O/off1.err; echo $? > $O/off1.rc
# Last: blocks onlined Normal take kernel allocations and may not offline again.
dx online dax0.0 --zone-ratio 0.1 --zone-balance split --json > $O/split.json 2> $O/split.err; echo $? > $O/split.rc
blockzones > $O/split-zones
zones > $O/zones1
`;

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, timeoutMs: 600_000});
});
const f = (n: string) => r.readFile(n).trim();
const GiB = 2 ** 30;
const errJson = (n: string) => JSON.parse(f(n).split('\n').filter((l) => /^[{} ]/.test(l)).join('\n'));

test('list shows Movable:Kernel as /proc/zoneinfo has it: per node, with CPUs or not', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const [movable, kernel] = f('zones0').split(' ').map(Number);
  t.is(movable, 0, 'nothing Movable before');
  t.true(kernel > 1.5 * GiB, `the guest's 2 GiB of DRAM: ${kernel}`);
  const j = r.readJson<J>('list.json');
  const sum = (k: string) => j.zones.reduce((s: number, z: J) => s + z[k], 0);
  t.is(sum('kernel'), kernel, 'kernel-zone bytes as zoneinfo says');
  t.is(sum('movable'), 0);
  t.like(j.zones.find((z: J) => z.node === 0), {cpus: true, movable_kernel: 'no Movable'});
  t.is(f('has-cpu'), '0');
  t.regex(f('list.txt'), /^zones: Movable:Kernel no Movable in total \(zone-ratio 3:1 unless set\); node 0 no Movable$/m);
});

test('over --zone-ratio: refused naming the ratio, the device stays devdax; --dry-run shows it', (t) => {
  t.regex(f('dry.txt'), /refuse +zone-balance +\[zone-ratio=0\.1 zone-balance=refuse cpuless=warn\] Movable:Kernel after the online 0\.\d\d:1 in total \(no Movable before\), node 1 all Movable, over zone-ratio 0\.1:1/);
  t.is(f('refused.rc'), '1');
  const e = errJson('refused.err');
  t.is(e.code, 'GATE_ZONE_BALANCE');
  t.is(e.device, 'dax0.0');
  t.regex(e.fix, /--zone normal.*zone-balance=split/);
  t.is(r.readJson<J[]>('refused-daxctl.json')[0].mode, 'devdax');
});

test('zone-balance=split: the lowest blocks Normal, the rest Movable, the total within the ratio by zoneinfo', (t) => {
  t.is(f('split.rc'), '0', f('split.err'));
  const zones = f('split-zones').split(' ');
  const normal = zones.filter((z) => z === 'Normal').length;
  t.true(normal > 0 && normal < zones.length, zones.join(' '));
  t.deepEqual(zones, [...Array(normal).fill('Normal'), ...Array(zones.length - normal).fill('Movable')], 'Normal below Movable');
  const [movable, kernel] = f('zones1').split(' ').map(Number);
  t.true(movable > 0 && movable <= 0.1 * kernel, `Movable ${movable} within 0.1 of kernel ${kernel}`);
  const s = r.readJson<J>('split.json');
  t.regex(s.plan.gates.find((g: J) => g.gate === 'zone-balance').detail, new RegExp(`${zones.length - normal} block\\(s\\) Movable and ${normal} Normal`));
});

test('a CPU-less node left all Movable, demotion and swap off: refused when told, a warning by default', (t) => {
  t.regex(f('demotion'), /^(false|0)$/);
  t.is(f('swap'), '0');
  t.is(f('cpuless.rc'), '1');
  const e = errJson('cpuless.err');
  t.is(e.code, 'GATE_ZONE_BALANCE');
  t.regex(e.message, /node 1 has no CPUs and would be all Movable while demotion is off and there is no swap/);
  t.is(f('default.rc'), '0', f('default.err'));
  t.is(f('off1.rc'), '0', f('off1.err'));
  t.true(r.readJson<J>('default.json').warnings.some((w: string) => /zone-balance: .*node 1 has no CPUs/.test(w)));
  t.true(f('default-zones').split(' ').every((z) => z === 'Movable'), f('default-zones'));
});

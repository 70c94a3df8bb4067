// CXL poison on 6.12 + QEMU 10: two poisoned 64-byte units injected into the device (debugfs
// inject_poison, the oracle side) in two different memory blocks. The default policy refuses
// the online and changes nothing; online-and-isolate onlines and HardwareCorrupted grows by
// exactly the two pages; `daxram clear` clears both (the re-read list is empty) and a plain
// online then passes. The oracle for the list is the kernel's own cxl_poison events.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_RAM_REGION} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL poison lists need kernel >= 6.4 and QEMU >= 8.1'});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
hc() { awk '/HardwareCorrupted/ {print $2}' /proc/meminfo; }
${CXL_RAM_REGION}
# 512 MiB (QEMU emulates every store to CXL memory: the offline's zeroing is slow under TCG);
# the two poisoned addresses are in its first two blocks.
make_ram_region decoder2.0 $((512 << 20)) || exit 10
DAX=$(basename $(ls -d /sys/bus/cxl/devices/$REGION/dax_region*/dax[0-9]* | head -1))
echo $DAX > $O/dax
cat /sys/bus/cxl/devices/$REGION/resource > $O/resource
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo 0x1000 > /sys/kernel/debug/cxl/mem0/inject_poison || exit 11
echo 0x8000040 > /sys/kernel/debug/cxl/mem0/inject_poison || exit 12
dx list -d $DAX --json > $O/list-plain.json 2> $O/list-plain.err
dx list -d $DAX --json --media-errors > $O/list.json 2> $O/list.err
dx scrub $DAX --json > $O/scrub.json 2> $O/scrub.err; echo $? > $O/scrub.rc
dx online $DAX --json > /dev/null 2> $O/refused.err; echo $? > $O/refused.rc
daxctl list -D -d $DAX > $O/after-refuse.json
ls /sys/devices/system/memory | grep -c memory > $O/blocks-after-refuse
h0=$(hc)
dx online $DAX --poison online-and-isolate --json > $O/isolate.json 2> $O/isolate.err; echo $? > $O/isolate.rc
h1=$(hc)
echo "$h0 $h1" > $O/hc
daxctl list -D -d $DAX > $O/isolated.json
dx offline $DAX --json > /dev/null 2> $O/offline.err; echo $? > $O/offline.rc
dx clear $DAX --json > $O/clear.json 2> $O/clear.err; echo $? > $O/clear.rc
# The kernel's own list, read the way daxram reads it, as the oracle: empty after the clear.
T=/sys/kernel/tracing; [ -d $T/instances ] || mount -t tracefs tracefs $T
mkdir $T/instances/oracle
echo 1 > $T/instances/oracle/events/cxl/cxl_poison/enable
echo 1 > /sys/bus/cxl/devices/mem0/trigger_poison_list
grep -c 'trace_type=List' $T/instances/oracle/trace > $O/oracle-count
dx online $DAX --json > $O/plain.json 2> $O/plain.err; echo $? > $O/plain.rc
daxctl list -D -d $DAX > $O/plain-list.json
`;

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, cxl: {memdevs: 1}, timeoutMs: 600_000});
});
const f = (n: string) => r.readFile(n).trim();
const err = (n: string) => JSON.parse(f(n).split('\n').filter((l) => /^[{} ]/.test(l)).join('\n'));

test('CXL poison is listed, scrubbed and refused by default: nothing onlined', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const base = BigInt(f('resource'));
  const want = [base + 0x1000n, base + 0x8000040n];
  t.is(r.readJson<J[]>('list.json')[0].badblocks, 2, f('list.err'));
  // Without --media-errors list asks no memdev for its poison list: it changes nothing, and says it does not know.
  t.false('badblocks' in r.readJson<J[]>('list-plain.json')[0], f('list-plain.err'));
  t.is(f('scrub.rc'), '0', f('scrub.err'));
  const s = r.readJson<J>('scrub.json');
  t.true(s.scrubSupported);
  t.deepEqual(s.found.map((x: J) => BigInt(x.start)), want);
  t.true(s.found.every((x: J) => x.size === 64));
  const recs = s.cxlRecords.map((x: J) => [x.memdev, x.dpa, x.region] as [string, number, string]).sort((a: [string, number, string], b: [string, number, string]) => a[1] - b[1]);
  t.deepEqual(recs, [['mem0', 0x1000, 'region0'], ['mem0', 0x8000040, 'region0']]);
  t.is(f('refused.rc'), '1');
  const e = err('refused.err');
  t.is(e.code, 'GATE_RESIDUAL_POISON');
  t.regex(e.message, /still has poison at 0x[0-9a-f]+\+64, 0x[0-9a-f]+\+64 \(2 page\(s\)/);
  const d = r.readJson<J[]>('after-refuse.json')[0];
  t.not(d.mode, 'system-ram', 'refused before anything changed');
});

test('CXL poison with online-and-isolate: online, and HardwareCorrupted grows by exactly the two pages', (t) => {
  t.is(f('isolate.rc'), '0', f('isolate.err'));
  const j = r.readJson<J>('isolate.json');
  const base = BigInt(f('resource'));
  t.deepEqual(j.isolated, [`0x${(base + 0x1000n).toString(16)}`, `0x${(base + 0x8000000n).toString(16)}`]);
  const [h0, h1] = f('hc').split(' ').map(Number);
  t.is(h1 - h0, 8, 'two 4 KiB pages');
  t.like(r.readJson<J[]>('isolated.json')[0], {mode: 'system-ram', movable: true, online_memblocks: 4});
  t.is(f('offline.rc'), '0', f('offline.err'));
});

test('daxram clear on CXL: both cleared through debugfs, verified by the list (empty), and a plain online passes', (t) => {
  t.is(f('clear.rc'), '0', f('clear.err'));
  const c = r.readJson<J>('clear.json');
  t.is(c.cleared.length, 2);
  t.deepEqual(c.remaining, []);
  t.is(c.verified, true);
  t.is(f('oracle-count'), '0', "the kernel's own poison list is empty");
  t.is(f('plain.rc'), '0', f('plain.err'));
  t.like(r.readJson<J[]>('plain-list.json')[0], {mode: 'system-ram', movable: true, online_memblocks: 4});
  const gates = r.readJson<J>('plain.json').plan.gates as J[];
  t.like(gates.find((g) => g.gate === 'residual-poison'), {verdict: 'pass'});
  t.like(gates.find((g) => g.gate === 'poison-scan'), {verdict: 'pass'});
});

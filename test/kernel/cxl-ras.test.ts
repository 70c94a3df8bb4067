// The runtime RAS loop on real kernels (6.12 and the newest), two CXL type-3 devices, a region
// on each: region A (on cxl-vmem0) onlined by daxram (managed), region B (cxl-vmem1) onlined by
// nobody (the kernel's kmem holds it, blocks offline: not daxram's). With daxramd running, the host injects media errors
// into the devices' event logs over QMP (cxl-inject-general-media-event); the kernel reads them
// and traces cxl_general_media with the HPA it decoded:
//   - uncorrectable, in A: the page is hard-offlined (HardwareCorrupted grows by it);
//   - a corrected-error threshold, in A: the page is soft-offlined (its content migrated);
//   - uncorrectable, in B: counted and logged, nothing changed;
// STATUS, `daxram status --json` and the metrics say so; kpageflags shows both pages poisoned.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_RAM_REGION} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3; the HPA in media-error events 6.9'});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
${CXL_RAM_REGION}
modprobe msr
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
for i in $(seq 1 120); do [ "$(ls -d /sys/bus/cxl/devices/endpoint*/decoder*.0 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done
daxof() { basename $(ls -d /sys/bus/cxl/devices/$1/dax_region*/dax* | head -1); }
# memN numbers follow the kernel's probe order; QEMU's cxl-vmemI has serial 0x1000 + I.
memof() { for m in /sys/bus/cxl/devices/mem*; do [ "$(cat $m/serial)" = "$1" ] && basename $m; done; }
make_ram_region $(ep_decoder $(memof 0x1000)) $((512 << 20)) || { echo "region a: $?" > $O/region.err; exit 10; }
A=$(daxof $REGION); cat /sys/bus/cxl/devices/$REGION/resource > $O/a-resource; memof 0x1000 > $O/a-memdev
make_ram_region $(ep_decoder $(memof 0x1001)) $((512 << 20)) || { echo "region b: $?" > $O/region.err; exit 11; }
B=$(daxof $REGION); echo $A > $O/a; echo $B > $O/b
dx online $A --json > $O/on.json 2> $O/on.err; echo $? > $O/on.rc
daxctl list -d $B > $O/b-before.json
mkdir -p -m 0755 /run/daxram-metrics
node bin/daxramd --metrics-dir /run/daxram-metrics > $O/daxramd.log 2>&1 &
D=$!
# Following the events once its instance exists (made at the end of its first reconcile).
for i in $(seq 1 240); do [ -e /sys/kernel/tracing/instances/daxram-ras/trace_pipe ] && break; sleep 0.5; done
awk '/HardwareCorrupted/ {print $2}' /proc/meminfo > $O/hc0
touch $O/ready-inject
for i in $(seq 1 240); do [ -e $O/inject-done ] && break; sleep 0.5; done
for i in $(seq 1 240); do dx status --json 2>/dev/null | grep -q '"events": *3' && break; sleep 0.5; done
awk '/HardwareCorrupted/ {print $2}' /proc/meminfo > $O/hc1
dx status --json > $O/status.json 2> $O/status.err
cat /run/daxram-metrics/daxram.prom > $O/metrics.prom 2>&1
daxctl list -d $B > $O/b-after.json
cat /sys/kernel/tracing/trace > $O/toplevel-trace.txt
/usr/bin/python3 -c "
import struct,sys
f=open('/proc/kpageflags','rb')
for a in sys.argv[1:]:
    f.seek(int(a,16)//4096*8); print(a, (struct.unpack('<Q', f.read(8))[0] >> 19) & 1)
" $(printf '0x%x' $(( $(cat $O/a-resource) + 0x1000 ))) $(printf '0x%x' $(( $(cat $O/a-resource) + 0x2000 ))) > $O/hwpoison.txt
kill $D; wait $D
`;

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({
    script: SCRIPT,
    cxl: {memdevs: 2},
    nvdimm: false,
    kernelArgs: ['memhp_default_state=offline'],
    timeoutMs: 900_000,
    host: async (g) => {
      await g.waitForFile('ready-inject');
      const inject = (dev: number, log: string, dpa: number, descriptor: number) =>
        g.qmp('cxl-inject-general-media-event', {path: `/machine/peripheral/cxl-vmem${dev}`, log, flags: 1, dpa, descriptor, type: 0, 'transaction-type': 1});
      await inject(0, 'failure', 0x1000, 1); // UNCORRECTABLE_EVENT
      await inject(0, 'warning', 0x2000, 2); // THRESHOLD_EVENT
      await inject(1, 'failure', 0x1000, 1);
      g.signal('inject-done');
    },
  });
});
const f = (n: string) => r.readFile(n).trim();

test('media errors after onlining: uncorrectable hard-offlined, threshold soft-offlined in managed RAM; the unmanaged region untouched; STATUS and metrics count them', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.is(f('on.rc'), '0', f('on.err'));
  const st = r.readJson<J>('status.json');
  t.deepEqual(st.ras, {events: 3, hard: 1, soft: 1}, f('daxramd.log'));
  t.regex(st.status, /CXL media errors: 3 event\(s\); page\(s\) hard-offlined 1, soft-offlined 1/);
  t.is(Number(f('hc1')) - Number(f('hc0')), 8, 'HardwareCorrupted grew by exactly the two pages (kB)');
  t.deepEqual(f('hwpoison.txt').split('\n').map((l) => l.split(' ')[1]), ['1', '1'], 'both pages carry KPF_HWPOISON');
  const a = f('a');
  const m = f('a-memdev');
  const other = m === 'mem0' ? 'mem1' : 'mem0';
  const log = f('daxramd.log');
  t.regex(log, new RegExp(`${m}: cxl_general_media Failure DPA 0x1000 = HPA 0x[0-9a-f]+ \\(region\\d\\): UNCORRECTABLE_EVENT.*page 0x[0-9a-f]+ of ${a.replace('.', '\\.')} hard-offlined`));
  t.regex(log, new RegExp(`${m}: cxl_general_media Warning DPA 0x2000 .*THRESHOLD_EVENT.*of ${a.replace('.', '\\.')} soft-offlined`));
  t.regex(log, new RegExp(`${other}: cxl_general_media Failure DPA 0x1000 = HPA .*not in System RAM daxramd manages; left to the kernel and rasdaemon`));
  t.deepEqual(r.readJson<J[]>('b-after.json'), r.readJson<J[]>('b-before.json'), 'region B as it was');
  const prom = f('metrics.prom');
  t.regex(prom, new RegExp(`^daxram_cxl_media_events_total\\{action="hard-offline",memdev="${m}",severity="uncorrectable"\\} 1$`, 'm'));
  t.regex(prom, new RegExp(`^daxram_cxl_media_events_total\\{action="soft-offline",memdev="${m}",severity="threshold"\\} 1$`, 'm'));
  t.regex(prom, new RegExp(`^daxram_cxl_media_events_total\\{action="not-managed",memdev="${other}",severity="uncorrectable"\\} 1$`, 'm'));
  t.regex(prom, new RegExp(`^daxram_pages_soft_offlined_total\\{device="${a.replace('.', '\\.')}"\\} 1$`, 'm'));
  // The top-level buffer (rasdaemon's) is not daxram's: nothing enabled there by daxramd.
  t.notRegex(f('toplevel-trace.txt'), /cxl_general_media:/);
});

// Nothing onlines dax memory before daxram has looked (6.12, whose kernel binds CXL and hmem dax
// devices to kmem by itself and onlines them into ZONE_NORMAL). A systemd guest with the Debian
// package installed (dpkg -i, nothing enabled by hand), a soft-reserved range at boot, two CXL
// type-3 devices and a config rule for each:
//   - the hmem range comes up Movable after daxram's check, not Normal;
//   - a DIMM hot-added at runtime (QMP device_add) still comes online, as the system's policy says;
//   - a CXL region made after boot is checked and onlined Movable by daxramd;
//   - with daxramd stopped the kernel onlines a second region (with poison in it) Normal; when
//     daxramd starts again it adopts it: the poison in use is isolated, blocks move to Movable,
//     STATUS says so.
// The control: the same boot without daxram shows the kernel's own Normal onlining.

import anyTest from 'ava';
import {HMEM_RANGE_ARG, kernelTest, runGuest} from './harness';
import {daemonInstall, DIMM_HOTADD, hotAddDimm, PACKAGE_ROOT} from './daemon-setup';
import {CXL_RAM_REGION} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'the kernel binds CXL/hmem dax devices to kmem by itself since 6.3; Debian 6.1 auto-onlines nothing', root: PACKAGE_ROOT});

const CONF = `[daemon]
log-level = info
# cxl-a and cxl-b are regions the script makes after boot: waiting for them is bounded.
device-timeout = 3

[device hmem]
resource = 0x50000000
mode = ram

[device cxl-a]
resource = 0x590000000
mode = ram

[device cxl-b]
resource = 0x5b0000000
mode = ram
`;

const SCRIPT = String.raw`
O=$HARNESS_OUT
${DIMM_HOTADD}
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
waitdev() { # device, predicate on daxctl list -d: system-ram and every block online
  for i in $(seq 1 240); do
    daxctl list -d $1 2>/dev/null | grep -q '"mode":"system-ram"' && [ "$(daxctl list -d $1 | grep -o '"online_memblocks":[0-9]*' | cut -d: -f2)" = "$(daxctl list -d $1 | grep -o '"total_memblocks":[0-9]*' | cut -d: -f2)" ] && return 0
    sleep 0.5
  done; return 1
}
byres() { # the dax device of a range: a CXL region's appears a moment after its commit
  for i in $(seq 1 120); do
    for d in /sys/bus/dax/devices/dax*; do [ "$(cat $d/mapping0/start 2>/dev/null)" = "$1" ] && basename $d && return 0; done
    sleep 0.5
  done; return 1
}
hc() { awk '/HardwareCorrupted/ {print $2}' /proc/meminfo; }
${CXL_RAM_REGION}
waitactive; echo $? > $O/active.rc
systemctl is-active daxram-hotplug-guard > $O/guard.txt 2>&1
systemctl is-enabled daxramd daxram-hotplug-guard daxram-online.target > $O/enabled.txt 2>&1
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-boot
cat /run/daxram/hotplug-hold.json > $O/hold.json 2>&1
H=$(byres 0x50000000); echo $H > $O/hmem
waitdev $H; echo $? > $O/hmem-wait.rc
daxctl list -d $H > $O/hmem.json
ls /sys/devices/system/memory | grep -c '^memory' > $O/blocks0
ls /sys/devices/system/memory | grep '^memory' | sort > $O/blocklist0

# A DIMM hot-added by the host while daxramd holds the policy.
dimm_hotadd $O/blocklist0 $O/blocklist1 > $O/dimm-blocks

# A CXL region made after boot: daxramd checks and onlines it.
make_ram_region $(ep_decoder mem0) $((512 << 20)) || echo "region a: $?" > $O/region-a.err
A=$(byres 0x590000000); echo $A > $O/cxl-a
waitdev $A; echo $? > $O/cxl-a-wait.rc
daxctl list -d $A > $O/cxl-a.json

# daxramd stopped: the kernel onlines a new region (poison in it) itself, Normal.
systemctl stop daxramd
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-stopped
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo 0x1000 > /sys/kernel/debug/cxl/mem1/inject_poison
make_ram_region $(ep_decoder mem1) $((512 << 20)) || echo "region b: $?" > $O/region-b.err
B=$(byres 0x5b0000000); echo $B > $O/cxl-b
waitdev $B; echo $? > $O/cxl-b-kernel.rc
daxctl list -d $B > $O/cxl-b-kernel.json
hc > $O/hc0
systemctl start daxramd; waitactive; echo $? > $O/restart.rc
# The adoption is done when STATUS names it (what the test checks below, and all it waits for).
for i in $(seq 1 240); do systemctl show -p StatusText daxramd | grep -q "adopted: $B" && break; sleep 0.5; done
hc > $O/hc1
daxctl list -d $B > $O/cxl-b-adopted.json
daxram status --json > $O/status.json 2>&1
systemctl show -p StatusText daxramd > $O/statustext
journalctl -b -u daxramd -o cat --no-pager > $O/journal.txt
`;

const CONTROL = String.raw`
O=$HARNESS_OUT
# The kernel onlines as kmem binds: wait for the hmem range's device to be System RAM.
for i in $(seq 1 240); do daxctl list -D 2>/dev/null | grep -q '"mode":"system-ram"' && break; sleep 0.5; done
cat /sys/devices/system/memory/auto_online_blocks > $O/auto
daxctl list -D > $O/list.json
`;

type J = Record<string, any>;

test('with the package: hmem Movable at boot after the check; a hot-added DIMM still onlined; a CXL region after boot checked and Movable; RAM found unchecked is adopted (poison isolated, moved, in STATUS)', async (t) => {
  const r = await runGuest({systemd: true, cxl: {memdevs: 2}, kernelArgs: [HMEM_RANGE_ARG], ...daemonInstall(undefined, {conf: CONF}), script: SCRIPT, host: hotAddDimm, timeoutMs: 900_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('active.rc'), '0');
  t.is(f('guard.txt'), 'active');
  // The guard has no [Install]: daxramd pulls it in (Wants=), so it runs exactly when daxramd will.
  t.deepEqual(f('enabled.txt').split('\n'), ['enabled', 'static', 'enabled'], 'the package enabled its units');
  t.is(f('auto-boot'), 'offline', 'the guard held the policy before coldplug');
  // daxramd took the guard's hold over: the policy the guard recorded, daxramd's pid.
  t.like(JSON.parse(f('hold.json')), {policy: 'online', by: 'daxramd'});
  // hmem: Movable after the check, by daxramd, not the kernel's Normal.
  t.is(f('hmem-wait.rc'), '0');
  t.like(r.readJson<J[]>('hmem.json')[0], {mode: 'system-ram', movable: true});
  const journal = f('journal.txt');
  t.regex(journal, new RegExp(`${f('hmem').replace('.', '\\.')}: making it System RAM on node 0, zone movable`));
  t.regex(journal, /ready without \[device cxl-a\] \(\/etc\/daxram\/daxram\.conf:\d+\), \[device cxl-b\] .*not present after device-timeout = 3 s/);
  // The hot-added DIMM: online, as the system's policy says.
  const dimm = f('dimm-blocks').split('\n').filter(Boolean);
  t.true(dimm.length >= 2, f('dimm-blocks'));
  t.true(dimm.every((l) => / online /.test(l)), f('dimm-blocks'));
  t.regex(journal, /onlined hot-added memory that is not dax, as "online" says: memory\d+/);
  // CXL region after boot: checked, Movable.
  t.is(f('cxl-a-wait.rc'), '0');
  t.like(r.readJson<J[]>('cxl-a.json')[0], {mode: 'system-ram', movable: true, online_memblocks: 4});
  // Stopped: the policy went back; the kernel onlined region B Normal.
  t.is(f('auto-stopped'), 'online');
  t.is(f('cxl-b-kernel.rc'), '0');
  t.like(r.readJson<J[]>('cxl-b-kernel.json')[0], {mode: 'system-ram', movable: false});
  // Adopted: the poisoned page isolated, blocks moved where the kernel let them, STATUS says so.
  t.is(f('restart.rc'), '0');
  t.is(Number(f('hc1')) - Number(f('hc0')), 4, 'one 4 KiB page isolated');
  const b = r.readJson<J[]>('cxl-b-adopted.json')[0];
  t.is(b.mode, 'system-ram');
  const st = r.readJson<J>('status.json');
  const cb = f('cxl-b');
  t.regex(st.adopted?.[cb] ?? '', /found in RAM unchecked; 1 poisoned page\(s\) isolated/, JSON.stringify(st));
  t.regex(f('statustext'), new RegExp(`adopted: ${cb.replace('.', '\\.')}`));
  t.log(`region B after adoption: movable=${b.movable}, ${b.online_memblocks}/${b.total_memblocks} online; ${st.adopted?.[cb]}`);
  if (!b.movable) t.regex(st.adopted[cb], /stays in Normal/, 'a block the kernel kept in Normal is reported with its reason');
});

test('control: the same hmem boot without daxram: the kernel onlines it Normal by itself', async (t) => {
  const r = await runGuest({systemd: true, root: PACKAGE_ROOT, cxl: {memdevs: 2}, kernelArgs: [HMEM_RANGE_ARG], script: CONTROL, timeoutMs: 600_000});
  t.is(r.status, 0, r.stderr);
  t.is(r.readFile('auto').trim(), 'online');
  const d = r.readJson<J[]>('list.json').find((x) => x.mappings?.[0]?.start === 0x50000000 || x.chardev);
  t.like(d, {mode: 'system-ram', movable: false});
});

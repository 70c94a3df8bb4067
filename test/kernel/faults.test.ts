// What protects memory, under faults, on every kernel, with the package as a user installs it
// (Debian 13 root, systemd): the kernel's hot-add policy is held (memhp_default_state=online on
// the command line, so even 6.1 auto-onlines), an hmem range is managed RAM. One boot:
//   1. daxramd SIGKILLed while a DIMM is hot-added: systemd restarts it within RestartSec, the
//      restarted daxramd takes the hold over and the DIMM's blocks come online as the system's
//      policy says;
//   2. `daxram clear` on the hmem device, which is System RAM: refused, nothing changes;
//   3. the guard, run while daxramd is masked at runtime, takes nothing;
//   4. daxramd stopped and a hold left by a holder that is gone (the guard's): removing the
//      package gives the policy back.
// The reserved trace buffer under a dangling config symlink is in trace-buffer.test.ts.

import anyTest from 'ava';
import {HMEM_RANGE_ARG, kernelTest, runGuest} from './harness';
import {daemonInstall, DIMM_HOTADD, hotAddDimm, PACKAGE_ROOT} from './daemon-setup';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest'], root: PACKAGE_ROOT});

const CONF = `[daemon]
log-level = info

[device hmem]
resource = 0x50000000   # the soft-reserved range (memmap=256M%1280M+0xefffffff)
mode = ram
zone = movable
unscanned = warn
`;

const SCRIPT = String.raw`
O=$HARNESS_OUT
${DIMM_HOTADD}
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
held_by() { grep -o '"pid": [0-9]*' /run/daxram/hotplug-hold.json | grep -o '[0-9]*$'; }
waitactive; echo $? > $O/active.rc
H=$(for d in /sys/bus/dax/devices/dax*; do [ "$(cat $d/mapping0/start 2>/dev/null)" = 0x50000000 ] && basename $d; done)
echo $H > $O/hmem
for i in $(seq 1 120); do daxctl list -d $H | grep -q '"mode":"system-ram"' && break; sleep 0.5; done
cat /sys/devices/system/memory/auto_online_blocks > $O/auto0
held_by > $O/holder0
systemctl show -p MainPID --value daxramd > $O/pid0

# 1. SIGKILL, and a DIMM hot-added while daxramd is down.
ls /sys/devices/system/memory | grep '^memory' | sort > $O/blocks0
systemctl kill -s KILL daxramd
dimm_hotadd $O/blocks0 $O/blocks1 > $O/dimm-blocks
waitactive; echo $? > $O/restarted.rc
systemctl show -p MainPID --value daxramd > $O/pid1
systemctl show -p NRestarts --value daxramd > $O/restarts
held_by > $O/holder1
cat /sys/devices/system/memory/auto_online_blocks > $O/auto1

# 2. clear on a device that is System RAM.
daxctl list -d $H > $O/clear-before.json
daxram clear $H --json > $O/clear.json 2> $O/clear.err; echo $? > $O/clear.rc
daxctl list -d $H > $O/clear-after.json

# 3. the guard with daxramd masked at runtime: nothing taken.
systemctl stop daxramd
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-stopped
systemctl mask --runtime daxramd > /dev/null 2>&1
daxramd --hold-hotplug > $O/guard-masked.txt 2>&1; echo $? > $O/guard-masked.rc
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-masked
systemctl unmask --runtime daxramd > /dev/null 2>&1

# 4. a hold whose holder is gone (the guard's oneshot), daxramd stopped: removal gives it back.
daxramd --hold-hotplug > /dev/null 2>&1
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-held
apt-get remove -y daxram > $O/remove.log 2>&1; echo $? > $O/remove.rc
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-removed
test -e /run/daxram/hotplug-hold.json; echo $? > $O/hold-gone
journalctl -b -u daxramd -o cat --no-pager > $O/journal.txt
journalctl -b -u daxram-hotplug-release -o cat --no-pager > $O/journal-release.txt
true
`;

test('the hot-add hold under faults: SIGKILL with a DIMM hot-added meanwhile, clear on System RAM, a masked daxramd, removal with daxramd stopped', async (t) => {
  const r = await runGuest({
    systemd: true, nvdimm: false, kernelArgs: [HMEM_RANGE_ARG, 'memhp_default_state=online'],
    ...daemonInstall(undefined, {conf: CONF}), script: SCRIPT, host: hotAddDimm, timeoutMs: 900_000,
  });
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('active.rc'), '0');
  t.is(f('auto0'), 'offline', 'held while daxramd runs');
  t.is(f('holder0'), f('pid0'), 'daxramd took the guard\'s hold over');
  // 1. Restarted by systemd; the new daxramd holds; the DIMM came online as "online" says.
  t.is(f('restarted.rc'), '0');
  t.not(f('pid1'), f('pid0'));
  t.true(Number(f('restarts')) >= 1);
  t.is(f('holder1'), f('pid1'), 'the restarted daxramd took the hold over');
  t.is(f('auto1'), 'offline');
  const dimm = f('dimm-blocks').split('\n').filter(Boolean);
  t.true(dimm.length >= 2, f('dimm-blocks'));
  t.true(dimm.every((l) => / online /.test(l)), f('dimm-blocks'));
  // Whoever came first: the release unit (OnFailure=) gave the dead holder's policy back and the
  // kernel onlined the DIMM, or the restarted daxramd took the hold over and onlined it itself.
  const byDaemon = /onlined hot-added memory that is not dax, as "online" says: memory\d+/.test(f('journal.txt'));
  const byRelease = /gave auto_online_blocks back its "online"/.test(f('journal-release.txt'));
  t.true(byDaemon || byRelease, `${f('journal.txt')}\n--- release unit ---\n${f('journal-release.txt')}`);
  t.log(byDaemon ? 'the restarted daxramd onlined the DIMM' : 'the release unit gave the policy back; the kernel onlined the DIMM');
  // 2. clear refused on System RAM; the device unchanged.
  t.is(f('clear.rc'), '1');
  t.regex(f('clear.err'), /GATE_SYSTEM_RAM/);
  const before = r.readJson<Array<Record<string, unknown>>>('clear-before.json')[0];
  const after = r.readJson<Array<Record<string, unknown>>>('clear-after.json')[0];
  t.like(after, {mode: 'system-ram', online_memblocks: before.online_memblocks, movable: true});
  // 3. daxramd stopped: the policy is back; the guard under a runtime mask takes nothing.
  t.is(f('auto-stopped'), 'online');
  t.is(f('guard-masked.rc'), '0');
  t.regex(f('guard-masked.txt'), /daxramd\.service is masked \(\/run\/systemd\/system\)/);
  t.is(f('auto-masked'), 'online');
  // 4. A hold left by a holder that is gone, given back by the package's removal.
  t.is(f('auto-held'), 'offline');
  t.is(f('remove.rc'), '0', f('remove.log'));
  t.is(f('auto-removed'), 'online');
  t.is(f('hold-gone'), '1');
});

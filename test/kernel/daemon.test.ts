// daxramd under systemd as PID 1, the package installed with apt on the Debian 13 root: the
// unit, the udev rule and a config saying "this namespace (dax0.0) → System RAM on node 1".
// Boot 1 (script mode) creates the devdax namespace, which persists in the NVDIMM labels; boot 2
// (systemd) proves boot-time onlining, STATUS=, journal priorities, a rejected malformed config,
// a CLI action surviving a daemon restart, SIGKILL mid-transition converged after systemd
// restarts the daemon, and stop leaving memory online: on every kernel. Then, on Debian 13's own
// kernel (the operator's records are daxramd's bookkeeping, the same under every kernel): boot 3
// proves a reboot restores it, then that a CLI reassign of the region (512 MiB RAM + devdax)
// survives a daemon restart; boot 4, with the operator records kept as a disk would, that the
// reassigned RAM part comes back after a reboot. daxctl is the oracle.

import anyTest, {type ExecutionContext} from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {kernelTest, runGuest} from './harness';
import {CREATE_NS, daemonInstall, PACKAGE_ROOT} from './daemon-setup';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest'], root: PACKAGE_ROOT});
const recordsTest = kernelTest(anyTest, {kernels: ['6.12'], root: PACKAGE_ROOT, why: "operator records across restarts and reboots are daxramd's own bookkeeping, the same under every kernel"});
const BOOT2 = String.raw`
set -u
O=$HARNESS_OUT
dx() { daxram "$@"; }   # the packaged CLI (/usr/bin/daxram)
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
# Until "$@" succeeds, for at most 60 s: the daemon acts on a reload or a uevent asynchronously,
# and two TCG guests side by side make a fixed sleep too short.
waitfor() { for i in $(seq 1 120); do "$@" > /dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
rejected() { systemctl show -p StatusText daxramd | grep -q 'config rejected'; }
seen() { dx status --json | grep -q "\"device\": *\"$1\""; }
mem1() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node1/meminfo; }
# daxramd is ready once the device its rule names is RAM (device-timeout): on the newest kernel
# the dax bus exists before the NVDIMM's namespaces probe, so it waits for the namespace.
ramready() { systemctl show -p StatusText daxramd | grep -Eq 'RAM: [^ ]+ ([0-9]+)/\1 online'; }
waitactive; echo $? > $O/active.rc
ramready; echo $? > $O/ram-at-ready.rc
systemctl is-active daxram-online.target > $O/online-target.txt 2>&1
waitfor ramready
systemctl show -p ActiveState -p SubState -p StatusText -p NRestarts daxramd > $O/show1.txt
systemctl status daxramd --no-pager > $O/status1.txt 2>&1
daxctl list -D > $O/list1.json
mem1 > $O/mem1
ls -l /run/daxram > $O/run-ls.txt
stat -c '%a %U %F' /run/daxram /run/daxram/daxramd.sock > $O/sock-stat.txt
dx status > $O/dxstatus.txt 2>&1
cat /var/lib/prometheus/node-exporter/daxram.prom > $O/metrics1.prom 2>&1
stat -c '%a %U' /var/lib/prometheus/node-exporter/daxram.prom > $O/metrics-stat.txt 2>&1

# A malformed config is rejected with its line number; nothing changes.
cp /etc/daxram/daxram.conf /tmp/good.conf
printf 'this is not a setting\n' >> /etc/daxram/daxram.conf
dx config check > $O/check-bad.txt 2>&1; echo $? > $O/check-bad.rc
systemctl reload daxramd; waitfor rejected
daxctl list -D > $O/list-bad.json
systemctl show -p StatusText daxramd > $O/show-bad.txt
cp /tmp/good.conf /etc/daxram/daxram.conf
systemctl reload daxramd; waitfor eval '! rejected'

# Runtime hot-add: a second namespace, not in the config, is seen (uevent) and left alone.
ndctl create-namespace -r region0 -m devdax -a 2M -s 256M > $O/ns2.json 2>&1; waitfor seen dax0.1
dx status --json > $O/status-ns2.json 2>&1

# A CLI action survives a daemon restart.
dx offline dax0.0 --json > $O/offline.json 2> $O/offline.err; echo $? > $O/offline.rc
cp /var/lib/daxram/desired.json $O/desired.json
systemctl restart daxramd; waitactive
daxctl list -D -d dax0.0 > $O/list-after-restart.json

# SIGKILL mid-transition: the operator record is dropped (config says ram), the restarted
# daemon (its test entry point, test/entry/daxramd.ts) starts onlining and is killed after
# half of the blocks.
mkdir -p /run/systemd/system/daxramd.service.d
printf '[Service]\nEnvironment=DAXRAM_TEST_KILL_AFTER=half\nExecStart=\nExecStart=/usr/bin/node %s/dist/test-bundle/daxramd.js\nRestartSec=8s\nPrivateTmp=no\nProtectHome=no\n' "$PWD" > /run/systemd/system/daxramd.service.d/kill.conf
systemctl daemon-reload
rm -f /var/lib/daxram/desired.json
systemctl restart daxramd; echo $? > $O/kill-restart.rc
cp /var/lib/daxram/journal.json $O/journal-after-kill.json 2>/dev/null
daxctl list -D -d dax0.0 > $O/list-killed.json
rm -f /run/systemd/system/daxramd.service.d/kill.conf
systemctl daemon-reload
waitactive; echo $? > $O/recovered.rc
systemctl show -p NRestarts -p StatusText daxramd > $O/show-recovered.txt
daxctl list -D -d dax0.0 > $O/list-recovered.json

# Stop leaves the memory as configured.
systemctl stop daxramd
systemctl show -p ActiveState daxramd > $O/show-stopped.txt
daxctl list -D -d dax0.0 > $O/list-stopped.json
dx status > $O/status-stopped.txt 2>&1; echo $? > $O/status-stopped.rc
journalctl -b -u daxramd -o json --no-pager > $O/journal.json
true
`;

const BOOT3 = String.raw`
O=$HARNESS_OUT
dx() { daxram "$@"; }   # the packaged CLI (/usr/bin/daxram)
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
waitfor() { for i in $(seq 1 120); do "$@" > /dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
# daxramd is ready once it has handled the devices present when it started; on the newest
# kernel the dax bus exists before the NVDIMM's namespaces probe, so the device arrives as a
# uevent after that: wait for the RAM the configuration asks for, not only for the unit.
ramready() { systemctl show -p StatusText daxramd | grep -Eq 'RAM: [^ ]+ ([0-9]+)/\1 online'; }
waitactive
waitfor ramready
systemctl show -p ActiveState -p StatusText daxramd > $O/show.txt
daxctl list -D > $O/list.json

# A CLI reassign survives a daemon restart: the region record (while it works) and then one
# record per new device keep the daemon (whose config names the namespace reassign destroys)
# from onlining the new devdax part or undoing the layout.
modprobe msr
date +%s%6N > $O/t0
dx reassign region0 --ram 512M --json > $O/re.json 2> $O/re.err; echo $? > $O/re.rc
# The daemon's reconcile on reassign's uevents: it has seen both new devices.
seen() { dx status --json | grep -q "\"device\": *\"$1\""; }
for d in $(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(r.devices.map((d)=>d.dax).join(" "))' $O/re.json); do waitfor seen "$d"; done
daxctl list -D > $O/re-list.json
cp /var/lib/daxram/desired.json $O/re-desired.json
# The restarted daemon gets a config that would claim every unmatched device as RAM: only the
# operator's records keep the devdax part devdax.
sed -i 's/^log-level = info$/&\nunmatched = ram/' /etc/daxram/daxram.conf
grep -c '^unmatched = ram$' /etc/daxram/daxram.conf > $O/re-unmatched
systemctl restart daxramd; echo $? > $O/re-restart.rc
waitactive; echo $? > $O/re-active.rc
systemctl show -p ActiveState -p StatusText -p MainPID daxramd > $O/re-show.txt
daxctl list -D > $O/re-list-after.json
dx status > $O/re-status.txt 2>&1
journalctl -b -u daxramd -o json --no-pager > $O/journal.json
# Control: once the operator forgets the region and the devdax part, that same config claims it.
dx forget region0 > $O/re-forget.txt 2>&1; echo $? > $O/re-forget.rc
DD=$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(r.devices.find((d)=>d.role==="devdax").dax)' $O/re.json)
dx forget "$DD" >> $O/re-forget.txt 2>&1; echo $? >> $O/re-forget.rc
daxctl list -D > $O/re-list-forgot.json
cp /var/lib/daxram/desired.json $O/final-desired.json
true
`;

// Boot 4: the guest's /var/lib is a tmpfs, so the operator records boot 3 left are put back the
// way a disk would keep them. The config names a namespace reassign destroyed and leaves
// unmatched devices alone: only the RAM part's own record can bring it back online.
const BOOT4 = String.raw`
O=$HARNESS_OUT
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
waitfor() { for i in $(seq 1 120); do "$@" > /dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
# daxramd is ready once the device its rule names is RAM (device-timeout): on the newest kernel
# the dax bus exists before the NVDIMM's namespaces probe, so it waits for the namespace.
ramready() { systemctl show -p StatusText daxramd | grep -Eq 'RAM: [^ ]+ ([0-9]+)/\1 online'; }
waitactive; echo $? > $O/active.rc
ramready; echo $? > $O/ram-at-ready.rc
systemctl is-active daxram-online.target > $O/online-target.txt 2>&1
waitfor ramready
ndctl list -N -v -r region0 > $O/ns.json
daxctl list -D > $O/list.json
daxram status > $O/status.txt 2>&1
true
`;

interface DaxctlDev {
  chardev: string;
  mode: string;
  target_node: number;
  online_memblocks?: number;
  total_memblocks?: number;
  movable?: boolean;
  size?: number;
}
interface ReassignJson {
  ramDevice?: string;
  devices: {namespace: string; dax?: string; role: string; size: number}[];
  layout: {namespaces: {role: string; dataStart: number | string; dataEnd: number | string}[]};
}
const one = (j: unknown): DaxctlDev => (Array.isArray(j) ? j[0] : j) as DaxctlDev;

/** Boot 1: a devdax namespace in a kept NVDIMM image, and the package's install for it. */
async function namespaceImage(t: ExecutionContext, deviceTimeoutSec?: number): Promise<{work: string; image: string; inst: ReturnType<typeof daemonInstall>}> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-daemon-'));
  t.teardown(() => fs.rmSync(work, {recursive: true, force: true}));
  const image = path.join(work, 'nvdimm.img');
  const b1 = await runGuest({script: CREATE_NS, image});
  t.is(b1.status, 0, b1.stderr);
  const uuid = b1.readJson<{uuid: string}>('ns.json').uuid;
  t.regex(uuid, /^[0-9a-f-]{36}$/);
  return {work, image, inst: daemonInstall(uuid, {deviceTimeoutSec})};
}

test('daxramd under systemd: boot onlining, STATUS, metrics, journal, bad config, CLI record, SIGKILL, stop', async (t) => {
  const {image, inst} = await namespaceImage(t);
  const b2 = await runGuest({systemd: true, image, ...inst, script: BOOT2, timeoutMs: 600_000});
  t.is(b2.status, 0, b2.stderr);
  const f = (n: string) => b2.readFile(n);
  t.is(f('active.rc').trim(), '0', f('status1.txt'));
  t.is(f('ram-at-ready.rc').trim(), '0', 'the configured RAM was online when daxramd said READY=1');
  t.is(f('online-target.txt').trim(), 'active');

  // Boot-time onlining, daxctl as the oracle.
  const d1 = one(b2.readJson('list1.json'));
  t.like(d1, {chardev: 'dax0.0', mode: 'system-ram', target_node: 1, movable: true});
  t.true((d1.online_memblocks ?? 0) > 0 && d1.online_memblocks === d1.total_memblocks, JSON.stringify(d1));
  t.true(Number(f('mem1')) > 800_000, f('mem1'));
  t.regex(f('show1.txt'), /ActiveState=active/);
  t.regex(f('show1.txt'), /StatusText=1\/1 device\(s\) managed; RAM: dax0.0 7\/7 online \(896\.00 MiB\) node 1/);
  t.regex(f('status1.txt'), /Status: "1\/1 device\(s\) managed/);
  t.regex(f('sock-stat.txt'), /^700 root directory\n600 root socket/);
  t.regex(f('dxstatus.txt'), /dax0.0 \(node 1, uuid:[0-9a-f-]+\): system-ram 7\/7 online/);

  // Metrics for node_exporter's textfile collector, written by the hardened unit.
  t.is(f('metrics-stat.txt').trim(), '644 root');
  const prom = f('metrics1.prom');
  t.regex(prom, /^daxram_capacity_bytes\{node="1",state="ram-online"\} 939524096$/m, prom);
  t.regex(prom, /^daxram_transitions_total\{device="dax0\.0",to="ram"\} 1$/m);
  t.regex(prom, /^daxram_devices_managed 1$/m);
  t.regex(prom, /^daxram_last_reconcile_timestamp_seconds \d{10}/m);

  // Malformed config: line number, nothing changed, previous kept.
  t.is(f('check-bad.rc').trim(), '1');
  t.regex(f('check-bad.txt'), /daxram\.conf:11: expected "key = value", got "this is not a setting"/);
  t.like(one(b2.readJson('list-bad.json')), {mode: 'system-ram'});
  t.regex(f('show-bad.txt'), /config rejected, previous kept/);

  // Hot-added namespace: heard through the uevent socket even with PrivateNetwork=yes.
  const ns2 = (b2.readJson('status-ns2.json') as {devices: {device: string; desired?: unknown}[]}).devices;
  t.truthy(ns2.find((d) => d.device === 'dax0.1' && !d.desired), JSON.stringify(ns2));

  // CLI offline is recorded and survives a restart.
  t.is(f('offline.rc').trim(), '0', f('offline.err'));
  t.regex(f('desired.json'), /"mode": "devdax"/);
  t.like(one(b2.readJson('list-after-restart.json')), {mode: 'devdax'});

  // SIGKILL half-way: the journal holds the intent, systemd restarts, the device converges.
  t.not(f('kill-restart.rc').trim(), '0');
  t.regex(f('journal-after-kill.json'), /"op": ?"online"/);
  const killed = one(b2.readJson('list-killed.json'));
  t.is(killed.mode, 'system-ram');
  t.true((killed.online_memblocks ?? 0) < (killed.total_memblocks ?? 0), JSON.stringify(killed));
  t.is(f('recovered.rc').trim(), '0');
  t.regex(f('show-recovered.txt'), /NRestarts=[1-9]/);
  const rec = one(b2.readJson('list-recovered.json'));
  t.like(rec, {mode: 'system-ram', movable: true});
  t.is(rec.online_memblocks, rec.total_memblocks);

  // Stop: memory stays; the CLI sees no daemon.
  t.regex(f('show-stopped.txt'), /ActiveState=inactive/);
  t.like(one(b2.readJson('list-stopped.json')), {mode: 'system-ram', online_memblocks: rec.total_memblocks});
  t.is(f('status-stopped.rc').trim(), '3');

  // Journal: our lines with syslog priorities.
  const entries = f('journal.json').trim().split('\n').map((l) => JSON.parse(l) as {PRIORITY: string; MESSAGE: string});
  const pri = (re: RegExp) => entries.filter((e) => re.test(String(e.MESSAGE))).map((e) => e.PRIORITY);
  t.true(pri(/^dax0.0: making it System RAM on node 1/).includes('5'));
  t.true(pri(/^config rejected, nothing changed: .*daxram\.conf:11:/).includes('3'));
  t.true(pri(/^uevent: add dax0.1/).includes('6'));
  t.true(pri(/finishing an interrupted online|finished an interrupted transition/).some((p) => p === '4'));
  t.true(pri(/^ready: /).includes('5'));

});

recordsTest('daxramd across reboots: the configured state restored, a CLI reassign kept through a restart, its records through a reboot', async (t) => {
  // Reassign destroys the namespace the config names: daxramd's restarts after it (boot 3's and
  // boot 4's) would each wait device-timeout for it before READY.
  const {work, image, inst} = await namespaceImage(t, 3);
  // Boot 3: a reboot restores the configured state.
  const b3 = await runGuest({systemd: true, image, ...inst, script: BOOT3, timeoutMs: 600_000});
  t.is(b3.status, 0, b3.stderr);
  t.regex(b3.readFile('show.txt'), /ActiveState=active/);
  const d3 = (b3.readJson('list.json') as DaxctlDev[]).find((d) => d.chardev === 'dax0.0')!;
  t.like(d3, {mode: 'system-ram', target_node: 1, movable: true});
  t.is(d3.online_memblocks, d3.total_memblocks);

  // Boot 3, then: daxram reassign region0 --ram 512M with the daemon running, and a restart.
  const g = (n: string) => b3.readFile(n);
  t.is(g('re.rc').trim(), '0', g('re.err'));
  const re = b3.readJson<ReassignJson>('re.json');
  const ramDev = re.ramDevice;
  const ddPlan = re.layout.namespaces.find((n) => n.role === 'devdax')!;
  const ddDev = re.devices.find((d) => d.role === 'devdax')?.dax;
  t.truthy(ramDev && ddDev && ddPlan, JSON.stringify(re.devices));
  const checkLayout = (list: DaxctlDev[], when: string) => {
    t.is(list.length, 2, `${when}: ${JSON.stringify(list)}`);
    const ram = list.find((d) => d.chardev === ramDev)!;
    const dd = list.find((d) => d.chardev === ddDev)!;
    // 512 MiB = 4 blocks of 128 MiB, all online, movable, on node 1.
    t.like(ram, {mode: 'system-ram', target_node: 1, movable: true, online_memblocks: 4, total_memblocks: 4}, when);
    t.like(dd, {mode: 'devdax', target_node: 1, size: Number(ddPlan.dataEnd) - Number(ddPlan.dataStart)}, when);
    t.is(dd.online_memblocks, undefined, when);
  };
  const byDev = (l: DaxctlDev[]) => [...l].sort((a, b) => a.chardev.localeCompare(b.chardev));
  const before = byDev(b3.readJson<DaxctlDev[]>('re-list.json'));
  checkLayout(before, 'after reassign');
  t.log(`reassign: ${before.map((d) => `${d.chardev} ${d.mode} ${d.size} B${d.total_memblocks ? ` ${d.online_memblocks}/${d.total_memblocks} blocks` : ''}`).join(', ')}`);
  // The region record guarded the transition; each new device then got its own, by namespace uuid,
  // so a reboot brings the RAM part back (records are what the daemon applies at boot).
  const desired = b3.readJson<{records: {key: string; device: string; mode: string; action: string}[]}>('re-desired.json').records;
  const rows = desired.map((r) => [r.key.startsWith('uuid:') ? 'uuid' : r.key, r.device, r.mode, r.action].join(' ')).sort();
  t.deepEqual(rows, [`region:region0 region0 reserved reassign`, `uuid ${ddDev} devdax reassign`, `uuid ${ramDev} ram reassign`].sort());
  t.is(g('re-unmatched').trim(), '1');
  t.is(g('re-restart.rc').trim(), '0');
  t.is(g('re-active.rc').trim(), '0');
  const after = byDev(b3.readJson<DaxctlDev[]>('re-list-after.json'));
  checkLayout(after, 'after restart');
  t.deepEqual(after, before);
  const esc = (s: string) => s.replace(/[.]/g, '\\.');
  t.regex(g('re-show.txt'), new RegExp(`StatusText=2/2 device\\(s\\) managed; RAM: ${esc(ramDev!)} 4/4 online \\(512\\.00 MiB\\) node 1; devdax: ${esc(ddDev!)}\n`));
  t.regex(g('re-status.txt'), new RegExp(`  ${esc(ddDev!)} \\(node 1, uuid:[^)]+\\): devdax, wants devdax per operator \\(reassign at `));
  t.regex(g('re-status.txt'), new RegExp(`  ${esc(ramDev!)} \\(node 1, uuid:[^)]+\\): system-ram 4/4 online \\(512\\.00 MiB\\), wants ram per operator \\(reassign at `));
  // Journal since the reassign: the restarted daemon was ready with the layout and changed nothing.
  const t0 = Number(g('t0').trim());
  const since = g('journal.json').trim().split('\n').map((l) => JSON.parse(l) as {PRIORITY: string; MESSAGE: string; __REALTIME_TIMESTAMP: string; _PID?: string})
    .filter((e) => Number(e.__REALTIME_TIMESTAMP) > t0);
  const msgs = since.map((e) => String(e.MESSAGE));
  const pid = /MainPID=(\d+)/.exec(g('re-show.txt'))?.[1];
  t.true(since.some((e) => e._PID === pid && /^ready: 2\/2 device\(s\) managed; RAM: /.test(String(e.MESSAGE))), msgs.join('\n'));
  t.false(msgs.some((m) => /making it System RAM|returning it to devdax|could not make it|refusing to make it/.test(m)), msgs.join('\n'));

  // Control: forgetting the operator's records hands the devdax part to the config (unmatched = ram).
  t.deepEqual(g('re-forget.rc').trim().split('\n'), ['0', '0'], g('re-forget.txt'));
  const forgot = byDev(b3.readJson<DaxctlDev[]>('re-list-forgot.json'));
  t.like(forgot.find((d) => d.chardev === ddDev), {mode: 'system-ram', target_node: 1, movable: true});
  const fd = forgot.find((d) => d.chardev === ddDev)!;
  t.log(`after forget region0: ${ddDev} ${fd.mode} ${fd.online_memblocks}/${fd.total_memblocks} blocks`);
  t.true((fd.online_memblocks ?? 0) > 0 && fd.online_memblocks === fd.total_memblocks, JSON.stringify(fd));
  t.like(forgot.find((d) => d.chardev === ramDev), {mode: 'system-ram', online_memblocks: 4, total_memblocks: 4});

  // Reboot with the records kept: the RAM part comes back by its own record, the rest stays devdax.
  const records = b3.readJson<{records: {key: string; mode: string}[]}>('final-desired.json').records;
  const ramKey = records.find((r) => r.mode === 'ram')?.key;
  t.regex(ramKey ?? '', /^uuid:/, JSON.stringify(records));
  const kept = path.join(work, 'desired.json');
  fs.copyFileSync(path.join(b3.outDir, 'final-desired.json'), kept);
  const restore = `mkdir -p -m 700 /var/lib/daxram && cp ${kept} /var/lib/daxram/desired.json && chmod 600 /var/lib/daxram/desired.json`;
  const b4 = await runGuest({systemd: true, image, ...inst, preScript: `${inst.preScript}\n${restore}`, script: BOOT4, timeoutMs: 600_000});
  t.is(b4.status, 0, b4.stderr);
  t.is(b4.readFile('active.rc').trim(), '0');
  // ndctl -v: raw_uuid is the namespace's own uuid (the records' key); the device is nested.
  const ns4 = b4.readJson<{raw_uuid?: string; daxregion?: {devices?: {chardev: string}[]}}[]>('ns.json');
  const ramNs = ns4.find((n) => `uuid:${n.raw_uuid}` === ramKey);
  const ramChar = ramNs?.daxregion?.devices?.[0]?.chardev;
  t.truthy(ramChar, JSON.stringify(ns4));
  const list4 = b4.readJson<DaxctlDev[]>('list.json');
  t.like(list4.find((d) => d.chardev === ramChar), {mode: 'system-ram', target_node: 1, movable: true, online_memblocks: 4, total_memblocks: 4});
  t.deepEqual(list4.filter((d) => d.chardev !== ramChar).map((d) => d.mode), ['devdax'], JSON.stringify(list4));
  t.regex(b4.readFile('status.txt'), new RegExp(`${ramChar!.replace('.', '\\.')} \\(node 1, uuid:[^)]+\\): system-ram 4/4 online \\(512\\.00 MiB\\), wants ram per operator \\(reassign at `));
});

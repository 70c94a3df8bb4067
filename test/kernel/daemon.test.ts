// daxramd under systemd as PID 1 on the 6.1 guest: the unit, the udev rule and a config saying
// "this namespace (dax0.0) → System RAM on node 1". Boot 1 (script mode) creates the devdax
// namespace, which persists in the NVDIMM labels; boot 2 (systemd) proves boot-time onlining,
// STATUS=, journal priorities, a rejected malformed config, a CLI action surviving a daemon
// restart, SIGKILL mid-transition converged after systemd restarts the daemon, and stop
// leaving memory online; boot 3 proves a reboot restores it. daxctl is the oracle.

import anyTest from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {kernelTest, runGuest} from './harness';
import {CREATE_NS, daemonInstall} from './daemon-setup';

const test = kernelTest(anyTest);
const BOOT2 = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
mem1() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node1/meminfo; }
waitactive; echo $? > $O/active.rc
systemctl show -p ActiveState -p SubState -p StatusText -p NRestarts daxramd > $O/show1.txt
systemctl status daxramd --no-pager > $O/status1.txt 2>&1
daxctl list -D > $O/list1.json
mem1 > $O/mem1
ls -l /run/daxram > $O/run-ls.txt
stat -c '%a %U %F' /run/daxram /run/daxram/daxramd.sock > $O/sock-stat.txt
dx status > $O/dxstatus.txt 2>&1

# A malformed config is rejected with its line number; nothing changes.
cp /etc/daxram/daxram.conf /tmp/good.conf
printf 'this is not a setting\n' >> /etc/daxram/daxram.conf
dx config check > $O/check-bad.txt 2>&1; echo $? > $O/check-bad.rc
systemctl reload daxramd; sleep 2
daxctl list -D > $O/list-bad.json
systemctl show -p StatusText daxramd > $O/show-bad.txt
cp /tmp/good.conf /etc/daxram/daxram.conf
systemctl reload daxramd; sleep 2

# Runtime hot-add: a second namespace, not in the config, is seen (uevent) and left alone.
ndctl create-namespace -r region0 -m devdax -a 2M -s 256M > $O/ns2.json 2>&1; sleep 3
dx status --json > $O/status-ns2.json 2>&1

# A CLI action survives a daemon restart.
dx offline dax0.0 --json > $O/offline.json 2> $O/offline.err; echo $? > $O/offline.rc
cp /var/lib/daxram/desired.json $O/desired.json
systemctl restart daxramd; waitactive
daxctl list -D -d dax0.0 > $O/list-after-restart.json

# SIGKILL mid-transition: the operator record is dropped (config says ram), the restarted
# daemon starts onlining and the engine's test hook kills it after half of the blocks.
mkdir -p /run/systemd/system/daxramd.service.d
printf '[Service]\nEnvironment=DAXRAM_TEST_KILL_AFTER=half\nRestartSec=8s\n' > /run/systemd/system/daxramd.service.d/kill.conf
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
for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && break; sleep 0.5; done
systemctl show -p ActiveState -p StatusText daxramd > $O/show.txt
daxctl list -D > $O/list.json
true
`;

interface DaxctlDev {
  chardev: string;
  mode: string;
  target_node: number;
  online_memblocks?: number;
  total_memblocks?: number;
  movable?: boolean;
}
const one = (j: unknown): DaxctlDev => (Array.isArray(j) ? j[0] : j) as DaxctlDev;

test('daxramd under systemd: boot onlining, STATUS, journal, bad config, CLI record, SIGKILL, stop, reboot', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-daemon-'));
  const image = path.join(work, 'nvdimm.img');
  const b1 = await runGuest({script: CREATE_NS, image});
  t.is(b1.status, 0, b1.stderr);
  const uuid = b1.readJson<{uuid: string}>('ns.json').uuid;
  t.regex(uuid, /^[0-9a-f-]{36}$/);

  const inst = daemonInstall(uuid);
  const b2 = await runGuest({systemd: true, image, ...inst, script: BOOT2, timeoutMs: 600_000});
  t.is(b2.status, 0, b2.stderr);
  const f = (n: string) => b2.readFile(n);
  t.is(f('active.rc').trim(), '0', f('status1.txt'));

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

  // Boot 3: a reboot restores the configured state.
  const b3 = await runGuest({systemd: true, image, ...inst, script: BOOT3, timeoutMs: 420_000});
  t.is(b3.status, 0, b3.stderr);
  t.regex(b3.readFile('show.txt'), /ActiveState=active/);
  const d3 = (b3.readJson('list.json') as DaxctlDev[]).find((d) => d.chardev === 'dax0.0')!;
  t.like(d3, {mode: 'system-ram', target_node: 1, movable: true});
  t.is(d3.online_memblocks, d3.total_memblocks);
  fs.rmSync(work, {recursive: true, force: true});
});

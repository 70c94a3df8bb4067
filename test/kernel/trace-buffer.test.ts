// The seeds' crash-surviving trace buffer: legacy e820 pmem (memmap=256M!1G) made devdax and
// reserved in daxramd's configuration. One QEMU process, two boots with a warm reset (sysrq b)
// between them, guest RAM kept as a real warm reset keeps it:
//   boot 1 (no systemd: it only prepares): the namespace becomes devdax, a trace is stamped
//           into it, the reservation is written (with `unmatched = ram`, so only the
//           reservation keeps it out of RAM for boot 2), and `daxram online` refuses it naming
//           the rule's file:line;
//   boot 2: daxramd starts with that configuration and leaves the device devdax; the trace
//           reads back byte for byte; `daxram online` still refuses; then daxram.conf becomes a
//           dangling symlink (a deploy half-way): reload and restart keep the last good
//           configuration, the buffer stays devdax, the CLI refuses naming the broken file.

import anyTest from 'ava';
import {E820_PMEM_ARG, kernelTest, runGuest} from './harness';
import {daemonInstall, PACKAGE_ROOT} from './daemon-setup';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest'], root: PACKAGE_ROOT});

const SCRIPT = String.raw`
O=$HARNESS_OUT
dx() { daxram "$@"; }   # the packaged CLI (/usr/bin/daxram)
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
if [ ! -e $O/boot1-done ]; then
  # Boot 1 runs without systemd or the package (firstBootScript): the checkout's CLI, the same
  # program, reading the same /etc/daxram/daxram.conf.
  dx() { node bin/daxram "$@"; }
  NS=$(ndctl list -N -b e820 | grep -o '"dev":"namespace[0-9.]*"' | cut -d'"' -f4 | head -1)
  ndctl create-namespace -f -e $NS -m devdax -a 4K > $O/b1-ns.json || exit 10
  D=$(grep -o '"chardev":"dax[0-9.]*"' $O/b1-ns.json | cut -d'"' -f4)
  U=$(grep -o '"uuid":"[0-9a-f-]*"' $O/b1-ns.json | head -1 | cut -d'"' -f4)
  echo "$D $U" > $O/b1-dev
  TOKEN="trace-$(cat /proc/sys/kernel/random/uuid)"
  echo $TOKEN > $O/token
  /usr/bin/python3 test/kernel/daxmap.py stamp $D $TOKEN > $O/b1-stamp 2>&1
  printf '# the trace buffer: never RAM, never destroyed\n[daemon]\nunmatched = ram\n\n[device trace]\nuuid = %s\nmode = reserved\n' $U > $O/trace.conf
  mkdir -p /etc/daxram; cp $O/trace.conf /etc/daxram/daxram.conf
  dx online $D --json > /dev/null 2> $O/b1-online.err; echo $? > $O/b1-online.rc
  daxctl list -D -d $D > $O/b1-list.json
  touch $O/boot1-done
  sync
  echo b > /proc/sysrq-trigger
  sleep 600
fi
waitactive; echo $? > $O/b2-active.rc
read D U < $O/b1-dev
# daxramd has looked at the device when its last reconcile reports it (on 7.x the e820 namespace
# can probe after READY=1, and daxramd reconciles it from the uevent).
for i in $(seq 1 240); do dx status --json 2>/dev/null | grep -q "\"device\": \"$D\"" && break; sleep 0.5; done
daxctl list -D -d $D > $O/b2-list.json
/usr/bin/python3 test/kernel/daxmap.py read $D > $O/b2-read 2>&1
dx online $D --json > /dev/null 2> $O/b2-online.err; echo $? > $O/b2-online.rc
dx status --json > $O/b2-status.json 2>&1
cat /proc/iomem | grep -i 'persistent' > $O/b2-iomem
# A config-management tool half-way through a deploy: daxram.conf is a dangling symlink, and
# daxramd is reloaded, then restarted. The reservation must hold through both.
mv /etc/daxram/daxram.conf /etc/daxram/daxram.conf.real
ln -s /etc/daxram/daxram.conf.new /etc/daxram/daxram.conf
systemctl reload daxramd
for i in $(seq 1 120); do systemctl show -p StatusText daxramd | grep -q 'config rejected' && break; sleep 0.5; done
systemctl show -p StatusText --value daxramd > $O/b3-reloaded-status
systemctl restart daxramd; waitactive; echo $? > $O/b3-active.rc
systemctl show -p StatusText --value daxramd > $O/b3-restarted-status
daxctl list -D -d $D > $O/b3-list.json
dx online $D --json > /dev/null 2> $O/b3-online.err; echo $? > $O/b3-online.rc
dx config check > $O/b3-check.txt 2>&1; echo $? > $O/b3-check.rc
journalctl -b -u daxramd -o cat --no-pager > $O/b2-journal.txt
`;

test('an e820 trace buffer reserved in daxramd\'s config survives a warm reset byte for byte, and is never onlined, at boot or by the CLI', async (t) => {
  const inst = daemonInstall(undefined);
  // The pre script runs before systemd, so in boot 2 only: the package, then the configuration
  // boot 1 left in the share in place of the default one.
  const preScript = `${inst.preScript}\ncp /harness/trace.conf /etc/daxram/daxram.conf`;
  const r = await runGuest({systemd: true, warmReset: true, firstBootScript: true, nvdimm: false, kernelArgs: [E820_PMEM_ARG], ...inst, preScript, script: SCRIPT, timeoutMs: 900_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  const [dev] = f('b1-dev').split(' ');
  t.is(f('b1-stamp'), 'stamped');
  // Boot 1: the CLI refuses, naming the rule.
  t.is(f('b1-online.rc'), '1');
  const e1 = JSON.parse(f('b1-online.err').split('\n').filter((l) => /^[{} ]/.test(l)).join('\n'));
  t.is(e1.code, 'GATE_RESERVED');
  t.regex(e1.message, /reserved \(by \/etc\/daxram\/daxram\.conf:5 \[device trace\]\)/);
  t.is(r.readJson<Array<{mode: string}>>('b1-list.json')[0].mode, 'devdax');
  // Boot 2, after the warm reset: same device, devdax, the trace intact, still refused.
  t.is(f('b2-active.rc'), '0');
  t.regex(f('b2-iomem'), /Persistent Memory \(legacy\)/);
  t.is(r.readJson<Array<{mode: string}>>('b2-list.json')[0].mode, 'devdax', 'daxramd (unmatched = ram) left the reserved device alone');
  const token = f('token');
  t.is(f('b2-read'), `${token}|${token}`, 'the trace written before the reset reads back');
  t.is(f('b2-online.rc'), '1');
  t.regex(f('b2-online.err'), /GATE_RESERVED/);
  const journal = f('b2-journal.txt');
  t.notRegex(journal, new RegExp(`${dev.replace('.', '\\.')}: making it System RAM`));
  const st = r.readJson<{devices: Array<{device: string; desired?: {mode: string}}>}>('b2-status.json');
  t.is(st.devices.find((d) => d.device === dev)?.desired?.mode, 'reserved');
  // daxram.conf a dangling symlink: rejected on reload and at restart, the last good
  // configuration kept, the buffer still devdax, the CLI refuses naming the broken file.
  t.regex(f('b3-reloaded-status'), /config rejected, previous kept/);
  t.is(f('b3-active.rc'), '0');
  t.regex(f('b3-restarted-status'), /config rejected, previous kept/);
  t.is(r.readJson<Array<{mode: string}>>('b3-list.json')[0].mode, 'devdax');
  t.is(f('b3-online.rc'), '1');
  t.regex(f('b3-online.err'), /cannot read \/etc\/daxram\/daxram\.conf: it is a symlink to nothing/);
  t.not(f('b3-check.rc'), '0');
  t.regex(journal, /using the last good configuration saved in \/var\/lib\/daxram\/last-good-config\.json/);
  t.log(`trace buffer ${dev}: ${token} survived; boot 2 journal has ${journal.split('\n').length} lines`);
});

// Memory tiers and [daemon] tiering = on, with the package in a systemd guest (QEMU NVDIMM on
// memory-only node 1): once daxramd has onlined the namespace, `daxram list` reports the tier
// the kernel put node 1 in (checked against /sys/devices/virtual/memory_tiering), demotion is on
// and kernel.numa_balancing has its memory-tiering bit; when the operator takes the memory back
// to devdax, both switches return to the values the boot had. Stopped while they are on, the
// memory then taken back by the CLI, daxramd restores them when it starts again (its record).
// The guest has an ACPI HMAT (node 0 20000 MB/s, node 1 5000 MB/s): on 6.12 daxramd sets the
// weighted-interleave weights from it while the memory is RAM (node0 4, node1 1) and restores
// them after; on the newest kernel the kernel's auto mode sets them and daxramd leaves them,
// reporting both; 6.1 has no weighted interleave, and says so.

import anyTest from 'ava';
import {kernelTest, runGuest} from './harness';
import {daemonInstall, PACKAGE_ROOT} from './daemon-setup';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest'], root: PACKAGE_ROOT});

const CONF = `[daemon]
log-level = info
tiering = on
unmatched = ram
`;

const SCRIPT = String.raw`
O=$HARNESS_OUT
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
waitfor() { # file content predicate: until "$1" prints "$2"
  for i in $(seq 1 120); do [ "$(eval "$1")" = "$2" ] && return 0; sleep 0.5; done; return 1
}
sw() { echo "$(cat /sys/kernel/mm/numa/demotion_enabled) $(cat /proc/sys/kernel/numa_balancing)"; }
wi() { for f in /sys/kernel/mm/mempolicy/weighted_interleave/*; do [ -f "$f" ] && echo "$(basename $f)=$(cat $f)"; done | tr '\n' ' '; }
waitactive; echo $? > $O/active.rc
uname -r > $O/uname
sw > $O/sw0
wi > $O/wi0
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns.json
waitfor "daxctl list -d dax0.0 | grep -c system-ram" 1; echo $? > $O/online.rc
waitfor "cat /sys/kernel/mm/numa/demotion_enabled" true; echo $? > $O/applied.rc
sw > $O/sw1
# node-feature-discovery's directory exists (made before boot): the labels follow the reconcile,
# written at its end (after the tiering switches and the interleave weights).
NFD=/etc/kubernetes/node-feature-discovery/features.d/daxram
waitfor "grep -c '^daxram-ram-mib=[1-9]' $NFD" 1; echo $? > $O/nfd.rc
for t in /sys/devices/virtual/memory_tiering/memory_tier*; do echo "$(basename $t) $(cat $t/nodelist)"; done > $O/kernel-tiers
daxram list --json -T > $O/list.json 2> $O/list.err
daxram list > $O/list.txt 2>&1
daxram status > $O/status.txt 2>&1
cat $NFD > $O/nfd.txt 2>&1; stat -c %a $NFD > $O/nfd-mode
wi > $O/wi1
cat /var/lib/daxram/interleave.json > $O/iw-record.json 2>&1
daxram status --json > $O/status.json 2>&1
cat /var/lib/daxram/tiering.json > $O/record.json 2>&1
cat /var/lib/prometheus/node-exporter/daxram.prom > $O/metrics.prom 2>&1
daxram offline dax0.0 > /dev/null 2> $O/offline.err; echo $? > $O/offline.rc
waitfor sw "$(cat $O/sw0)"; echo $? > $O/restored.rc
waitfor "test -e /var/lib/daxram/interleave.json && echo held || echo none" none; echo $? > $O/iw-restored.rc
sw > $O/sw2
wi > $O/wi2
ls /var/lib/daxram > $O/state2
# Stopped with the switches on; the memory goes back while it is down; the next start restores.
daxram online dax0.0 > /dev/null 2> $O/online2.err
waitfor "cat /sys/kernel/mm/numa/demotion_enabled" true; echo $? > $O/applied2.rc
systemctl stop daxramd
daxram offline dax0.0 > /dev/null 2>&1
sw > $O/sw3
systemctl start daxramd; waitactive
waitfor sw "$(cat $O/sw0)"; echo $? > $O/restored2.rc
sw > $O/sw4
journalctl -b -u daxramd -o cat --no-pager | grep -i tiering > $O/journal.txt
journalctl -b -u daxramd -o cat --no-pager | grep -i interleave > $O/journal-iw.txt
`;

type J = Record<string, any>;

test('tiering = on: the tier is reported as the kernel has it; demotion and promotion on while managed RAM is online, restored after, and after a stop', async (t) => {
  const inst = daemonInstall(undefined, {conf: CONF});
  const preScript = `${inst.preScript}\nmkdir -p /etc/kubernetes/node-feature-discovery/features.d`;
  const r = await runGuest({systemd: true, ...inst, preScript, script: SCRIPT, hmat: {bandwidthMBps: [20000, 5000], latencyNs: [10, 40]}, timeoutMs: 900_000});
  t.is(r.status, 0, r.stderr);
  const f = (n: string) => r.readFile(n).trim();
  t.is(f('active.rc'), '0');
  t.is(f('online.rc'), '0', 'daxramd onlined the namespace (unmatched = ram)');
  const [dem0, nb0] = f('sw0').split(' ');
  t.is(dem0, 'false', 'the boot has demotion off');
  t.is(f('applied.rc'), '0', f('journal.txt'));
  const [dem1, nb1] = f('sw1').split(' ');
  t.is(dem1, 'true');
  t.is(Number(nb1), Number(nb0) | 2, 'numa_balancing gained its memory-tiering bit, kept the rest');
  // The tier report against the kernel's own files.
  const kernel = f('kernel-tiers').split('\n').map((l) => {
    const [name, nodes] = l.split(' ');
    return {id: Number(name.replace('memory_tier', '')), nodes};
  });
  const list = r.readJson<J>('list.json');
  t.deepEqual(list.tiering.tiers.map((x: J) => ({id: x.id, nodes: x.nodes.join(',')})).sort((a: J, b: J) => a.id - b.id), kernel.sort((a, b) => a.id - b.id));
  const node1 = kernel.find((k) => k.nodes.split(',').includes('1'));
  t.truthy(node1, f('kernel-tiers'));
  t.is(list.devices.find((d: J) => d.chardev === 'dax0.0').memory_tier, node1!.id);
  t.like(list.tiering, {demotion_enabled: true, promotion: true});
  t.regex(f('list.txt'), new RegExp(`memory tiers: .*${node1!.id} \\(node 1\\).*demotion on, promotion on`));
  t.regex(f('status.txt'), /memory tiers: .*demotion on, promotion on; \[daemon\] tiering = on/);
  t.like(r.readJson<J>('record.json'), {demotion: false, numaBalancing: Number(nb0)});
  t.regex(f('metrics.prom'), new RegExp(`^daxram_memory_tier\\{node="1"\\} ${node1!.id}$`, 'm'));
  t.regex(f('metrics.prom'), /^daxram_tiering_demotion_enabled 1$/m);
  // The NFD labels say what `daxram status` says: the managed RAM online, in node 1's tier.
  t.is(f('nfd.rc'), '0', f('nfd.txt'));
  const nfd = new Map(f('nfd.txt').split('\n').filter((l) => !l.startsWith('#')).map((l) => l.split('=') as [string, string]));
  const st = r.readJson<J>('status.json');
  const ram = st.devices.find((d: J) => d.device === 'dax0.0');
  const mib = /system-ram \d+\/\d+ online \(([\d.]+) MiB\)/.exec(ram.actual);
  t.truthy(mib, ram.actual);
  t.is(nfd.get('daxram-ram-mib'), String(Math.floor(Number(mib![1]))));
  t.is(nfd.get(`daxram-ram-tier${node1!.id}-mib`), nfd.get('daxram-ram-mib'));
  t.like(Object.fromEntries(nfd), {'daxram-cxl': 'false', 'daxram-poison': 'clean', 'daxram-state': 'ok', 'daxram-zone-balance': 'within'});
  t.is(f('nfd-mode'), '644');
  // Taken back: restored, record gone.
  t.is(f('offline.rc'), '0', f('offline.err'));
  t.is(f('restored.rc'), '0', f('journal.txt'));
  t.is(f('sw2'), f('sw0'));
  t.false(f('state2').split('\n').includes('tiering.json'));
  // Stopped while on: the CLI's offline left them on; the next start restored them.
  t.is(f('applied2.rc'), '0');
  t.is(f('sw3').split(' ')[0], 'true', 'nobody restores while daxramd is stopped');
  t.is(f('restored2.rc'), '0', f('journal.txt'));
  t.is(f('sw4'), f('sw0'));
  t.regex(f('journal.txt'), /tiering switches restored/);

  // Weighted interleave, as each kernel has it.
  const iw = st.interleave;
  const mp = f('metrics.prom');
  const release = f('uname');
  if (release.startsWith('6.1.')) {
    t.is(f('wi0'), '', '6.1 has no weighted interleave');
    t.is(list.interleave, undefined);
    t.like(iw, {supported: false, setBy: 'none'});
    t.notRegex(mp, /daxram_interleave_weight/);
  } else if (release.startsWith('6.12.')) {
    t.is(f('wi0'), 'node0=1 node1=1');
    t.is(f('wi1'), 'node0=4 node1=1', `from 20000 and 5000 MB/s\n${f('journal-iw.txt')}`);
    t.deepEqual(list.interleave, {weights: {node0: 4, node1: 1}});
    t.regex(f('list.txt'), /^interleave weights: node0 4, node1 1$/m);
    t.regex(f('status.txt'), /interleave weights: node0 4, node1 1 \((as the bandwidth says: )?node0 4 \(20000 MB\/s\), node1 1 \(5000 MB\/s\)\)/);
    t.like(iw, {supported: true, setBy: 'daxram', weights: {node0: 4, node1: 1}});
    t.like(r.readJson<J>('iw-record.json'), {before: {node0: 1}});
    t.regex(mp, /^daxram_interleave_weight\{node="0",set_by="daxram"\} 4$/m);
    t.regex(mp, /^daxram_interleave_weight\{node="1",set_by="daxram"\} 1$/m);
    t.regex(f('journal-iw.txt'), /interleave weights from the nodes' bandwidth: node0 4 \(20000 MB\/s\), node1 1 \(5000 MB\/s\)/);
    t.is(f('iw-restored.rc'), '0');
    t.is(f('wi2'), f('wi0'), 'restored once the memory went back to devdax');
    t.regex(f('journal-iw.txt'), /interleave weights restored: node0 → 1/);
  } else {
    // auto (6.16+): the kernel weighs node 1 itself once it has memory; daxram writes nothing.
    t.regex(f('wi1'), /^auto=true node0=\d+ node1=\d+$/);
    t.like(iw, {supported: true, auto: true, setBy: 'kernel'});
    t.like(list.interleave, {auto: true});
    t.regex(f('list.txt'), /^interleave weights: node0 \d+, node1 \d+ \(the kernel sets them: auto\)$/m);
    t.is(f('iw-record.json').includes('No such file'), true, 'no record: nothing written');
    t.regex(mp, /^daxram_interleave_weight\{node="1",set_by="kernel"\} \d+$/m);
    t.regex(f('wi2'), /^auto=true /, 'auto is still on');
  }
});

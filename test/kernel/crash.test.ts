// Crash safety on the real kernel: the CLI, run through its test entry point
// (test/entry/daxram.ts, DAXRAM_TEST_KILL_AFTER), SIGKILLs itself after the unbind, after the bind and after half of the blocks, in
// online and in offline; `daxram recover` then converges each one with nothing stranded:
// online ends all-online movable, offline ends devdax, zeroed, with no kmem resource left.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const POINTS = ['unbind', 'bind', 'half'] as const;

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
# The real CLI with a kill point injected (test/entry/inject.ts).
dxk() { node dist/test-bundle/daxram.js "$@"; }
modprobe msr
ndctl create-namespace -r region0 -m devdax -a 2M -s 512M > $O/ns.json || exit 10
for K in ${POINTS.join(' ')}; do
  DAXRAM_TEST_KILL_AFTER=$K dxk online dax0.0 > /dev/null 2> $O/on-$K.err; echo $? > $O/on-$K.rc
  cp /var/lib/daxram/journal.json $O/on-$K.journal 2> /dev/null
  cp /var/lib/daxram/desired.json $O/on-$K.desired.json 2> /dev/null
  readlink /sys/bus/dax/devices/dax0.0/driver > $O/on-$K.mid-driver
  dx recover --json > $O/on-$K.recover.json 2> $O/on-$K.recover.err; echo $? > $O/on-$K.recover.rc
  daxctl list -D > $O/on-$K.after.json
  ls /var/lib/daxram > $O/on-$K.jdir

  DAXRAM_TEST_KILL_AFTER=$K dxk offline dax0.0 > /dev/null 2> $O/off-$K.err; echo $? > $O/off-$K.rc
  cp /var/lib/daxram/journal.json $O/off-$K.journal 2> /dev/null
  cp /var/lib/daxram/desired.json $O/off-$K.desired.json 2> /dev/null
  readlink /sys/bus/dax/devices/dax0.0/driver > $O/off-$K.mid-driver
  dx recover --json > $O/off-$K.recover.json 2> $O/off-$K.recover.err; echo $? > $O/off-$K.recover.rc
  daxctl list -D > $O/off-$K.after.json
  ls /var/lib/daxram > $O/off-$K.jdir
  grep -c 'System RAM (kmem)' /proc/iomem > $O/off-$K.kmem-iomem
  /usr/bin/python3 test/kernel/daxmap.py check dax0.0 > $O/off-$K.zero 2>&1
  /usr/bin/python3 test/kernel/daxmap.py pattern dax0.0 > /dev/null 2>&1
done
# A region transition killed after tearing down the old namespace, and one killed after naming
# the new one: recover (here: the next mutating command's settle, via recover) finishes both.
for K in destroy create; do
  RAM=256M; [ $K = create ] && RAM=0
  DAXRAM_TEST_KILL_AFTER=$K dxk reassign region0 --ram $RAM > /dev/null 2> $O/re-$K.err; echo $? > $O/re-$K.rc
  cp /var/lib/daxram/layout.json $O/re-$K.journal 2> /dev/null
  dx recover --json > $O/re-$K.recover.json 2> $O/re-$K.recover.err; echo $? > $O/re-$K.recover.rc
  daxctl list -D > $O/re-$K.after.json
  ndctl list -N -r region0 > $O/re-$K.ns.json
  # Each dax device's namespace label uuid (what the records key it by; ndctl prints the info block's).
  for D in $(ls /sys/bus/dax/devices); do echo "$D $(cat /sys/bus/nd/devices/$(cat /sys/bus/dax/devices/$D/../namespace)/uuid)"; done > $O/re-$K.uuids
  cp /var/lib/daxram/desired.json $O/re-$K.desired.json 2> /dev/null
  ls /var/lib/daxram > $O/re-$K.jdir
done
`;

let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, timeoutMs: 900_000, keepOutDir: !!process.env.DAXRAM_KEEP_GUEST});
  if (process.env.DAXRAM_KEEP_GUEST) console.error('guest results in', r.outDir);
});

const f = (n: string) => r.readFile(n).trim();
/** readlink of the driver link, as the driver's name ('' when unbound). */
const drv = (n: string) => f(n).split('/').pop() ?? '';
const dev = (n: string) => r.readJson<Array<Record<string, unknown>>>(n)[0];
/** The operator records desired.json held at that point. */
const records = (n: string) => r.readJson<{records: Array<{key: string; device: string; mode: string; action: string}>}>(`${n}.desired.json`).records;

for (const k of POINTS) {
  test(`online killed after ${k}: journal left, recover finishes it (all blocks online, movable)`, (t) => {
    t.is(r.status, 0, r.stderr);
    t.is(f(`on-${k}.rc`), '137', 'SIGKILLed');
    const j = JSON.parse(f(`on-${k}.journal`));
    t.is(j.op, 'online');
    t.is(j.device, 'dax0.0');
    t.is(drv(`on-${k}.mid-driver`), k === 'unbind' ? '' : 'kmem');
    t.is(j.args.action, 'online', 'the journal carries the decision');
    t.deepEqual(records(`on-${k}`).map((x) => [x.device, x.mode, x.action]), [['dax0.0', 'ram', 'online']], 'recorded before the first write');
    t.is(f(`on-${k}.recover.rc`), '0', f(`on-${k}.recover.err`));
    t.is(r.readJson<{action: string}>(`on-${k}.recover.json`).action, 'completed-online');
    const d = dev(`on-${k}.after.json`);
    t.is(d.mode, 'system-ram');
    t.is(d.online_memblocks, d.total_memblocks);
    t.true((d.total_memblocks as number) >= 3);
    t.is(d.movable, true);
    t.false(f(`on-${k}.jdir`).split('\n').includes('journal.json'));
  });

  test(`offline killed after ${k}: recover ends in devdax, zeroed, nothing stranded`, (t) => {
    t.is(f(`off-${k}.rc`), '137', 'SIGKILLed');
    t.is(JSON.parse(f(`off-${k}.journal`)).op, 'offline');
    t.deepEqual(records(`off-${k}`).map((x) => [x.device, x.mode, x.action]), [['dax0.0', 'devdax', 'offline']], 'recorded before the first write');
    t.is(drv(`off-${k}.mid-driver`), k === 'half' ? 'kmem' : k === 'unbind' ? '' : 'device_dax');
    t.is(f(`off-${k}.recover.rc`), '0', f(`off-${k}.recover.err`));
    t.is(r.readJson<{action: string}>(`off-${k}.recover.json`).action, 'completed-offline');
    t.is(dev(`off-${k}.after.json`).mode, 'devdax');
    t.is(f(`off-${k}.kmem-iomem`), '0');
    t.is(f(`off-${k}.zero`), 'zero');
    t.false(f(`off-${k}.jdir`).split('\n').includes('journal.json'));
  });
}

test('reassign killed after destroying the old namespace, and after naming the new one: recover finishes the layout', (t) => {
  for (const k of ['destroy', 'create']) {
    t.is(f(`re-${k}.rc`), '137', `${k}: SIGKILLed`);
    t.is(JSON.parse(f(`re-${k}.journal`)).op, 'reassign', k);
    t.is(f(`re-${k}.recover.rc`), '0', f(`re-${k}.recover.err`));
    t.is(r.readJson<{action: string}>(`re-${k}.recover.json`).action, 'completed-layout', k);
    t.false(f(`re-${k}.jdir`).split('\n').includes('layout.json'), k);
  }
  // recover confirmed the operator's layout: each new device is recorded by its namespace uuid,
  // as the layout made it (RAM as ram, the rest devdax), beside the region's own record.
  for (const k of ['destroy', 'create']) {
    const uuids = new Map(f(`re-${k}.uuids`).split('\n').map((l) => l.split(' ') as [string, string]));
    const want = ([] as Array<{chardev: string; mode: string}>).concat(r.readJson(`re-${k}.after.json`)).map((d) => `uuid:${uuids.get(d.chardev)} ${d.chardev} ${d.mode === 'system-ram' ? 'ram' : 'devdax'}`);
    t.is(want.length, k === 'destroy' ? 2 : 1, k);
    // Records of the namespaces the earlier runs destroyed stay until forgotten: only these devices' are compared.
    const keys = new Set([...uuids.values()].map((u) => `uuid:${u}`));
    const got = records(`re-${k}`).filter((x) => keys.has(x.key)).map((x) => `${x.key} ${x.device} ${x.mode}`);
    t.deepEqual(got.sort(), want.sort(), k);
    t.true(records(`re-${k}`).some((x) => x.key === 'region:region0' && x.mode === 'reserved'), k);
  }
  const ram = r.readJson<Array<Record<string, unknown>>>('re-destroy.after.json').filter((d) => d.mode === 'system-ram');
  t.is(ram.length, 1);
  t.is(ram[0].online_memblocks, 2, '256 MiB = 2 blocks online');
  t.true(r.readJson<Array<Record<string, unknown>>>('re-create.after.json').every((d) => d.mode === 'devdax'));
});

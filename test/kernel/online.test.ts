// The onlining engine on a real 6.1 kernel (QEMU NVDIMM on memory-only node 1): online and
// offline compared with daxctl's view, node meminfo and a zeroed device afterwards, poison
// isolation by hard_offline_page, EHWPOISON and the rollback it triggers, and
// auto_online_blocks detection. One boot, many checks: TCG guests are slow.

import anyTest from 'ava';
import {guestSeries, kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
# The real CLI with the scrub result injected (QEMU's NVDIMM has no ARS): test/entry/inject.ts.
dxp() { node dist/test-bundle/daxram.js "$@"; }
mem1() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node1/meminfo 2>/dev/null || echo 0; }
hc() { awk '/HardwareCorrupted/ {print $2}' /proc/meminfo; }
# msr is not loaded: daxram online loads it to read MCG_CAP (the default policy refuses unknown).
[ -d /sys/module/msr ] && echo loaded > $O/msr-before || echo absent > $O/msr-before
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns.json || exit 10
cat /sys/bus/dax/devices/dax0.0/mapping0/start > $O/start
/usr/bin/python3 test/kernel/daxmap.py pattern dax0.0 > $O/pattern.txt 2> $O/pattern.err
echo "$(mem1)" > $O/mem0
# daxramd's config reserves the device by the uuid ndctl prints: the CLI refuses and records nothing.
mkdir -p /etc/daxram
printf '[device trace]\nuuid = %s\nmode = reserved\n' "$(sed -n 's/.*"uuid":"\([^"]*\)".*/\1/p' $O/ns.json | head -1)" > /etc/daxram/daxram.conf
dx online dax0.0 --json > /dev/null 2> $O/reserved.err; echo $? > $O/reserved.rc
daxctl list -D > $O/list-reserved.json
ls /var/lib/daxram > $O/reserved-state.txt 2>&1
rm /etc/daxram/daxram.conf
# The rule is gone, its reservation is not: refused until the operator forgets it.
dx online dax0.0 --dry-run > $O/retired.txt 2>&1
dx forget dax0.0 > $O/forget.txt 2> $O/forget.err; echo $? > $O/forget.rc
dx online dax0.0 --dry-run > $O/dry-online.txt; echo $? > $O/dry-online.rc
daxctl list -D > $O/list-dry.json
t0=$(date +%s%N); dx online dax0.0 --json > $O/online.json 2> $O/online.err; echo $? > $O/online.rc; t1=$(date +%s%N)
daxctl list -D > $O/list-online.json
[ -d /sys/module/msr ] && echo loaded > $O/msr-after || echo absent > $O/msr-after
echo "$(mem1)" > $O/mem1
dx offline dax0.0 --dry-run > $O/dry-offline.txt
t2=$(date +%s%N); dx offline dax0.0 --json > $O/offline.json 2> $O/offline.err; echo $? > $O/offline.rc; t3=$(date +%s%N)
echo "$(( (t1-t0)/1000000 )) $(( (t3-t2)/1000000 ))" > $O/ms
daxctl list -D > $O/list-offline.json
echo "$(mem1)" > $O/mem2
/usr/bin/python3 test/kernel/daxmap.py check dax0.0 > $O/zero.txt
# Progress on a terminal (script(1) gives the CLI a pty): drawn, then wiped; nothing with --json.
script -qec 'node bin/daxram online dax0.0' /dev/null > $O/tty-online.txt 2>&1; echo $? > $O/tty-online.rc
script -qec 'node bin/daxram offline dax0.0 --zero=false --json' /dev/null > $O/tty-offline.txt 2>&1; echo $? > $O/tty-offline.rc

# Poison isolation: a page 20 KiB into the second memory block of the device.
BS=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
START=$(($(cat $O/start)))
PAGE=$(( ((START + BS - 1) / BS + 1) * BS + 0x5000 ))
printf '0x%x\n' $PAGE > $O/page
echo "$(hc)" > $O/hc0
# Refused by default: residual poison without online-and-isolate leaves the device devdax. (Asked
# again once the device is online and checked, online has nothing to do, so this comes first.)
DAXRAM_TEST_POISON=$(printf '0x%x' $PAGE):4096 dxp online dax0.0 --json > /dev/null 2> $O/refuse.err; echo $? > $O/refuse.rc
daxctl list -D > $O/list-refuse.json
DAXRAM_TEST_POISON=$(printf '0x%x' $PAGE):4096 dxp online dax0.0 --poison online-and-isolate --json > $O/isolate.json 2> $O/isolate.err; echo $? > $O/isolate.rc
echo "$(hc)" > $O/hc1
# The block with the hwpoisoned page, offlined and onlined again by daxram: Debian's 6.1 accepts
# it (no EHWPOISON on this kernel) and the page stays isolated.
B=memory$((PAGE / BS))
echo $B > $O/pblock
echo offline > /sys/devices/system/memory/$B/state 2> $O/boff.err; echo $? > $O/boff.rc
cat /sys/devices/system/memory/$B/state > $O/bstate
dx online dax0.0 --json > $O/ehw.json 2> $O/ehw.err; echo $? > $O/ehw.rc
daxctl list -D > $O/list-ehw.json
echo "$(hc)" > $O/hc2

# auto_online_blocks=online (6.12's default; set here on 6.1): a Movable online holds the policy
# for the bind and lands Movable; --no-online keeps the blocks offline; --zone auto lets the
# kernel decide and reports where it put them.
dx offline dax0.0 > /dev/null 2>&1
echo online > /sys/devices/system/memory/auto_online_blocks
dx online dax0.0 --json > $O/auto.json 2> $O/auto.err; echo $? > $O/auto.rc
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-after
daxctl list -D > $O/list-auto.json
dx offline dax0.0 > /dev/null 2> $O/auto-off.err; echo $? > $O/auto-off.rc
dx online dax0.0 --no-online --json > $O/noonline.json 2> $O/noonline.err; echo $? > $O/noonline.rc
daxctl list -D > $O/list-noonline.json
dx offline dax0.0 > /dev/null 2>&1
dx online dax0.0 --zone auto --json > $O/zauto.json 2> $O/zauto.err; echo $? > $O/zauto.rc
echo offline > /sys/devices/system/memory/auto_online_blocks
dx offline dax0.0 --json > /dev/null 2>&1
daxctl list -D > $O/list-end.json
ls /var/lib/daxram > $O/journal-dir.txt
`;

let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, timeoutMs: 900_000, keepOutDir: !!process.env.DAXRAM_KEEP_GUEST});
  if (process.env.DAXRAM_KEEP_GUEST) console.error('guest results in', r.outDir);
});

const num = (name: string) => Number(r.readFile(name).trim());
const list = (name: string) => r.readJson<Array<Record<string, unknown>>>(name)[0];

test('online: daxctl agrees (system-ram, all blocks online, movable) and node 1 grew by the blocks; msr was loaded by daxram itself', (t) => {
  t.is(r.status, 0, r.stderr);
  t.is(r.readFile('msr-before').trim(), 'absent');
  t.is(num('online.rc'), 0, r.readFile('online.err'));
  t.is(r.readFile('msr-after').trim(), 'loaded');
  t.true(r.readJson<{plan: {gates: {gate: string; verdict: string}[]}}>('online.json').plan.gates.some((g) => g.gate === 'mce-recovery' && g.verdict === 'pass'));
  const res = r.readJson<{bytes: number; blocks: {state: string; zone: string; node: number; by: string}[]}>('online.json');
  const l = list('list-online.json');
  t.is(l.mode, 'system-ram');
  t.is(l.online_memblocks, l.total_memblocks);
  t.is(l.online_memblocks, res.blocks.length);
  t.is(l.movable, true);
  t.true(res.blocks.every((b) => b.state === 'online' && b.zone === 'Movable' && b.node === 1 && b.by === 'daxram'));
  // 1 GiB namespace, 2 MiB align → a 1006 MiB device → 7 whole 128 MiB blocks.
  t.is(res.bytes, 7 * 128 * 1024 * 1024);
  t.is((num('mem1') - num('mem0')) * 1024, res.bytes);
});

test('dry-run names the exact writes and changes nothing', (t) => {
  t.is(num('dry-online.rc'), 0);
  const dry = r.readFile('dry-online.txt');
  t.regex(dry, /write "dax0\.0" > \/sys\/bus\/dax\/drivers\/device_dax\/unbind/);
  t.regex(dry, /write "dax0\.0" > \/sys\/bus\/dax\/drivers\/kmem\/new_id/);
  t.regex(dry, /write "online_movable" > \/sys\/devices\/system\/memory\/memory\d+\/state/);
  t.regex(dry, /mce-recovery/);
  t.is(list('list-dry.json').mode, 'devdax');
  t.regex(r.readFile('dry-offline.txt'), /zeroDax \/dev\/dax0\.0/);
});

test('offline: devdax again, node 1 shrank back, device zeroed (the pattern written before is gone)', (t) => {
  t.is(num('offline.rc'), 0, r.readFile('offline.err'));
  t.regex(r.readFile('pattern.txt'), /pattern 3/);
  t.is(list('list-offline.json').mode, 'devdax');
  t.is(num('mem2'), num('mem0'));
  t.is(r.readFile('zero.txt').trim(), 'zero');
  t.log('online/offline ms', r.readFile('ms').trim());
});

test('progress on a terminal: one line per update, rewritten in place and wiped before the result; none with --json', (t) => {
  t.is(num('tty-online.rc'), 0, r.readFile('tty-online.txt'));
  const tty = r.readFile('tty-online.txt');
  // The transcript as the operator's terminal got it (carriage returns and erase-line shown).
  t.log(JSON.stringify(tty));
  const pieces = tty.split('\r\x1b[K');
  const updates = pieces.filter((u) => u.startsWith('daxram: dax0.0: online '));
  t.true(updates.length >= 1, 'at least one progress line');
  // Each update alone between two erase-lines: the result is never printed onto a progress line.
  t.true(updates.every((u) => /^daxram: dax0\.0: online [1-6]\/7 blocks(, [\d.]+ blocks?\/s, \d+ s left)?$/.test(u)), JSON.stringify(updates));
  // Wiped before the result: what follows the last erase-line is the result, not progress.
  const result = pieces[pieces.length - 1];
  t.true(result.trim().length > 0 && !result.startsWith('daxram: dax0.0: online '), JSON.stringify(result));
  t.is(num('tty-offline.rc'), 0, r.readFile('tty-offline.txt'));
  const json = r.readFile('tty-offline.txt');
  t.false(json.includes('\x1b[K'), 'no terminal control with --json');
  t.false(/offline \d+\/\d+ blocks/.test(json));
  t.is(typeof JSON.parse(json.replace(/\r/g, '')), 'object');
});

test('online-and-isolate hard-offlines exactly the poisoned page (HardwareCorrupted grows by 4 kB); default policy refuses', (t) => {
  t.is(num('isolate.rc'), 0, r.readFile('isolate.err'));
  const res = r.readJson<{isolated: string[]; hardwareCorrupted: {before: number; after: number}}>('isolate.json');
  t.deepEqual(res.isolated, [r.readFile('page').trim()]);
  t.is(num('hc1') - num('hc0'), 4);
  t.is(res.hardwareCorrupted.after - res.hardwareCorrupted.before, 4096);
  t.is(num('refuse.rc'), 1);
  t.regex(r.readFile('refuse.err'), /residual-poison.*still has poison/);
  t.is(list('list-refuse.json').mode, 'devdax');
});

test('a block holding an isolated page, offlined and onlined again: 6.1 accepts it (the page stays isolated), 6.12 refuses it (EHWPOISON) and daxram rolls back to devdax', (t) => {
  t.is(num('boff.rc'), 0, r.readFile('boff.err'));
  t.is(r.readFile('bstate').trim(), 'offline');
  const l = list('list-ehw.json');
  if (guestSeries() === '6.1') {
    // Debian's 6.1 does not refuse: the per-block hwpoison count came later.
    t.is(num('ehw.rc'), 0, r.readFile('ehw.err'));
    t.is(l.mode, 'system-ram');
    t.is(l.online_memblocks, l.total_memblocks);
  } else {
    t.is(num('ehw.rc'), 1);
    const e = JSON.parse(r.readFile('ehw.err').split('\n').filter((x) => x.startsWith('{') || x.startsWith(' ') || x.startsWith('}')).join('\n'));
    t.is(e.code, 'EHWPOISON');
    t.regex(e.message, new RegExp(`${r.readFile('pblock').trim()}: writing "online_movable"`));
    t.regex(e.fix, /hard-offlined \(poisoned\) pages/);
    t.is(l.mode, 'devdax', 'the failed online went back to devdax');
    // Removing the memory made 6.12 forget the poisoned page: HardwareCorrupted drops back.
    // daxram's poison gate re-reads its sources on every online for that reason.
    t.is(num('hc2'), num('hc0'));
    return;
  }
  t.is(num('hc2'), num('hc1'));
});

test('auto_online_blocks=online: a Movable online lands Movable and gives the policy back; --no-online stays offline; --zone auto is the kernel\'s', (t) => {
  t.is(num('auto.rc'), 0, r.readFile('auto.err'));
  const res = r.readJson<{autoOnline: {policy: string; landed: unknown[]}; blocks: {by: string; zone: string}[]; plan: {notes: string[]}}>('auto.json');
  t.true(res.blocks.every((b) => b.by === 'daxram' && b.zone === 'Movable'), JSON.stringify(res.blocks));
  t.is(res.autoOnline.landed.length, 0);
  t.is(r.readFile('auto-after').trim(), 'online', 'policy given back');
  t.like(list('list-auto.json'), {mode: 'system-ram', movable: true});
  t.is(num('auto-off.rc'), 0, r.readFile('auto-off.err'));
  t.is(num('noonline.rc'), 0, r.readFile('noonline.err'));
  t.like(list('list-noonline.json'), {mode: 'system-ram', online_memblocks: 0});
  t.is(num('zauto.rc'), 0, r.readFile('zauto.err'));
  const z = r.readJson<{autoOnline: {landed: {zone: string}[]}; blocks: {by: string}[]}>('zauto.json');
  t.true(z.blocks.every((b) => b.by === 'kernel'));
  t.log('--zone auto: the kernel put the blocks in', JSON.stringify([...new Set(z.autoOnline.landed.map((l) => l.zone))]));
  t.false(r.readFile('journal-dir.txt').split('\n').includes('journal.json'), 'no unfinished transition left');
});

test("a device reserved in daxramd's config (by ndctl's uuid) is refused by daxram online; it stays devdax, nothing recorded", (t) => {
  t.is(r.readFile('reserved.rc').trim(), '1', r.readFile('reserved.err'));
  const e = JSON.parse(r.readFile('reserved.err'));
  t.is(e.code, 'GATE_RESERVED');
  t.regex(e.message, /dax0\.0 is reserved \(by \/etc\/daxram\/daxram\.conf:1 \[device trace\]\)/);
  t.is(r.readJson<Array<{mode: string}>>('list-reserved.json')[0].mode, 'devdax');
  t.notRegex(r.readFile('reserved-state.txt'), /desired\.json/);
  t.regex(r.readFile('retired.txt'), /refuse +reserved +.*no longer in the configuration since .*daxram forget uuid:/);
  t.is(num('forget.rc'), 0, r.readFile('forget.err'));
  t.regex(r.readFile('forget.txt'), /dax0\.0: reservation uuid:\S+ .*released/);
});

// Bench: how onlining grows with capacity (issue 21). One TCG guest with an NVDIMM of the
// largest size asked for (a sparse file: only what the guest writes takes host disk), a devdax
// namespace of N GiB made on it for each N in turn, and on each: online and offline (no zeroing)
// by daxram's engine in a long-lived process, as daxramd runs them (bench/engine-online.ts serve),
// against `daxctl reconfigure-device`, alternating, `rounds` times. Reported per N: the medians,
// ms per memory block (is the growth linear?), where the struct pages went (node 1's MemTotal
// grows by the capacity less what the kernel put on the device), and the memory subsystem's
// kernel uevents per block on udev's netlink group (bench/count-uevents.py, in a separate run so
// counting them is not timed).
// Boot: memory_hotplug.memmap_on_memory=1, the switch daxram's default memmap = device needs.
// daxctl leaves the device's own memmap_on_memory as it finds it, and daxram set it to 1 on the
// round's first online, so both put the struct pages on the device: like for like.
// Memory blocks are 128 MiB: x86 uses 2 GiB blocks only when boot memory ends at or above
// 64 GiB (probe_memory_block_size), which a guest with 2 GiB of boot RAM does not reach.
// Run: npx tsc -p tsconfig.json && node dist/bench/scale.js [sizes, default 1,4,16] [rounds, default 5] [--cpu-prof]
// (after npm run build:js). Prints one JSON; a Markdown table on stderr for docs/performance.md.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {runGuest} from '../test/kernel/harness';
import {median} from './stats';

const sizes = (process.argv[2] ?? '1,4,16').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 5);
// --cpu-prof: the engine's process is profiled (one .cpuprofile per size, summarised by
// bench/prof-top.ts); its times then include the profiler's cost and compare with nothing.
const profile = process.argv.includes('--cpu-prof');
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: scale.js [GiB,GiB,...] [rounds] [--cpu-prof]');
const largest = Math.max(...sizes);

const SCRIPT = String.raw`
[ -n "${'$'}{BASH_VERSION:-}" ] || exec /bin/bash "$0"
set -u
O=$HARNESS_OUT
E=/tmp/scale-err
trap 'cat $E >> $O/err 2>/dev/null' EXIT
modprobe msr || exit 9
ENGINE=dist/bench/engine-online.js
# The 4 GiB pad DIMM online in the kernel zone: 2 GiB of boot RAM alone carries at most 6 GiB of
# Movable memory under the zone-balance gate's default 3:1, and this bench is not about the gate.
for b in /sys/devices/system/node/node0/memory[0-9]*; do
  [ "$(cat $b/state)" = offline ] && { echo online_kernel > $b/state || exit 8; }
done
BS=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
echo $BS > $O/block-size
t0=0
start() { t0=${'$'}{EPOCHREALTIME/[.,]/}; }
since() { echo $(( (${'$'}{EPOCHREALTIME/[.,]/} - t0) / 1000 )); }
# Node 1 leaves sysfs while it has no memory online.
total1() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node1/meminfo 2>/dev/null || echo 0; }
# Kernel uevents of the memory subsystem while a command runs (bench/count-uevents.py), up to a
# change uevent on the first block sent after the command.
FIRST=$(ls /sys/devices/system/memory | grep -m1 '^memory[0-9]')
waitfor() { # pattern file: up to 60 s
  local i=0
  until grep -q "$1" $2 2>/dev/null; do i=$((i + 1)); [ $i -lt 1200 ] || { echo "no '$1' in $2" >> $E; exit 30; }; sleep 0.05; done
}
uevents() { # file command...
  local f=$1; shift
  /usr/bin/python3 bench/count-uevents.py $FIRST > $f 2>> $E & local m=$!
  waitfor '^listening' $f
  "$@"
  echo change > /sys/devices/system/memory/$FIRST/uevent
  wait $m
  return 0
}
for N in ${sizes.join(' ')}; do
  ndctl destroy-namespace -f -r region0 all > /dev/null 2>> $E
  ndctl create-namespace -r region0 -m devdax -a 2M -s $((N * 1024))M > $O/ns-$N.json 2>> $E || exit 10
  D=$(sed -n 's/.*"chardev":"\([^"]*\)".*/\1/p' $O/ns-$N.json | head -1)
  coproc W { exec node ${profile ? '--cpu-prof --cpu-prof-dir=$O/prof-$N ' : ''}$ENGINE serve $D 2>> $E; }
  WIN=${'$'}{W[1]} WOUT=${'$'}{W[0]}
  w() { echo "$1" >&$WIN; read -r ms <&$WOUT || { echo "engine serve ended during $1 ($N GiB)" >> $E; exit 21; }; }
  w online; w offline   # warm-up: modules, the device's first scan
  for r in $(seq ${rounds}); do
    a=$(total1); w online; b=$(total1); echo "$N ours.online $ms $((b - a))" >> $O/t
    w offline; echo "$N ours.offline $ms" >> $O/t
    a=$(total1); start; daxctl reconfigure-device -m system-ram $D > /dev/null 2>> $E || exit 22; ms=$(since); b=$(total1)
    echo "$N daxctl.online $ms $((b - a))" >> $O/t
    start; daxctl reconfigure-device -f -m devdax $D > /dev/null 2>> $E || exit 23; echo "$N daxctl.offline $(since)" >> $O/t
  done
  uevents $O/uev-ours-online-$N w online
  daxctl list -d $D > $O/list-$N.json
  uevents $O/uev-ours-offline-$N w offline
  uevents $O/uev-daxctl-online-$N daxctl reconfigure-device -m system-ram $D > /dev/null
  uevents $O/uev-daxctl-offline-$N daxctl reconfigure-device -f -m devdax $D > /dev/null
  echo quit >&$WIN; wait
done
`;

interface Row {
  gib: number;
  blocks: number;
  ours: {online: number; offline: number; msPerBlockOnline: number; msPerBlockOffline: number; structPagesOnDeviceMiB: number; ueventsPerBlock: {online: number; offline: number}};
  daxctl: {online: number; offline: number; msPerBlockOnline: number; msPerBlockOffline: number; structPagesOnDeviceMiB: number; ueventsPerBlock: {online: number; offline: number}};
  ratio: {online: number; offline: number};
}

async function main(): Promise<void> {
  process.env.DAXRAM_GUEST_KERNEL ??= '6.12';
  const r = await runGuest({
    script: SCRIPT,
    nvdimmGiB: largest + 1,
    blockAlignedRegion: true,
    kernelArgs: ['memory_hotplug.memmap_on_memory=1', 'memhp_default_state=offline'],
    timeoutMs: 3_600_000,
    keepOutDir: true,
  });
  process.stderr.write(`guest results in ${r.outDir}\n`);
  const err = fs.existsSync(path.join(r.outDir, 'err')) ? r.readFile('err') : '';
  if (r.status !== 0) throw new Error(`guest script failed (${r.status}):\n${err}\n${r.stderr}`);
  const bs = Number(r.readFile('block-size').trim());
  const samples = new Map<string, {ms: number[]; grew: number[]}>();
  for (const line of r.readFile('t').trim().split('\n')) {
    const [n, key, ms, grew] = line.split(' ');
    const k = `${n} ${key}`;
    const s = samples.get(k) ?? {ms: [], grew: []};
    s.ms.push(Number(ms));
    if (grew !== undefined) s.grew.push(Number(grew));
    samples.set(k, s);
  }
  const ms = (n: number, key: string) => median(samples.get(`${n} ${key}`)!.ms);
  // Every action but the end mark's change: add and online for an online, offline and remove for an offline.
  const countUevents = (file: string) => r.readFile(file).split('\n').reduce((a, l) => a + (/^(add|remove|online|offline) (\d+)$/.exec(l) ? Number(l.split(' ')[1]) : 0), 0);
  const rows: Row[] = sizes.map((n) => {
    const blocks = r.readJson<Array<{online_memblocks: number}>>(`list-${n}.json`)[0].online_memblocks;
    // MemTotal grows by the capacity less the struct pages the kernel put on the device.
    const onDevice = (key: string) => Math.round((blocks * (bs / 1024) - median(samples.get(`${n} ${key}`)!.grew)) / 1024);
    const side = (who: 'ours' | 'daxctl') => ({
      online: ms(n, `${who}.online`),
      offline: ms(n, `${who}.offline`),
      msPerBlockOnline: Math.round((ms(n, `${who}.online`) / blocks) * 10) / 10,
      msPerBlockOffline: Math.round((ms(n, `${who}.offline`) / blocks) * 10) / 10,
      structPagesOnDeviceMiB: onDevice(`${who}.online`),
      ueventsPerBlock: {online: countUevents(`uev-${who}-online-${n}`) / blocks, offline: countUevents(`uev-${who}-offline-${n}`) / blocks},
    });
    const ours = side('ours');
    const daxctl = side('daxctl');
    // Pair by pair: round r's daxram against round r's daxctl, then the median. Under TCG one
    // transition of 16 GiB moves by half between rounds (the host's page cache, the guest's
    // other work), and a ratio of the two medians mixed rounds.
    const paired = (op: string) => {
      const a = samples.get(`${n} ours.${op}`)!.ms;
      const b = samples.get(`${n} daxctl.${op}`)!.ms;
      return Math.round(median(a.map((x, i) => x / b[i])) * 100) / 100;
    };
    return {gib: n, blocks, ours, daxctl, ratio: {online: paired('online'), offline: paired('offline')}};
  });
  const first = rows[0];
  const last = rows[rows.length - 1];
  const result = {
    kernel: `${process.env.DAXRAM_GUEST_KERNEL}, memory_hotplug.memmap_on_memory=1, TCG, 1 vCPU`,
    blockSizeMiB: bs / 2 ** 20,
    rounds,
    hostLoadAvg: os.loadavg()[0],
    rows,
    // Flat means linear: the largest size's ms per block against the smallest's.
    growth: {oursOnline: Math.round((last.ours.msPerBlockOnline / first.ours.msPerBlockOnline) * 100) / 100, daxctlOnline: Math.round((last.daxctl.msPerBlockOnline / first.daxctl.msPerBlockOnline) * 100) / 100},
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (profile) for (const n of sizes) process.stderr.write(`profile of ${n} GiB: node dist/bench/prof-top.js ${path.join(r.outDir, `prof-${n}`)}\n`);
  process.stderr.write('| GiB | blocks | daxram online (ms/block) | daxctl online (ms/block) | ratio (pairwise median) | daxram offline (ms/block) | daxctl offline (ms/block) | ratio | struct pages on the device, daxram / daxctl | uevents per block online / offline |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
  for (const x of rows) {
    process.stderr.write(`| ${x.gib} | ${x.blocks} | ${x.ours.online} (${x.ours.msPerBlockOnline}) | ${x.daxctl.online} (${x.daxctl.msPerBlockOnline}) | ${x.ratio.online} | ${x.ours.offline} (${x.ours.msPerBlockOffline}) | ${x.daxctl.offline} (${x.daxctl.msPerBlockOffline}) | ${x.ratio.offline} | ${x.ours.structPagesOnDeviceMiB} / ${x.daxctl.structPagesOnDeviceMiB} MiB | ${x.ours.ueventsPerBlock.online} / ${x.ours.ueventsPerBlock.offline} |\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

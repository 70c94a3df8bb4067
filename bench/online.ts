// Bench: online and offline of one device, ours against `daxctl reconfigure-device`, in one TCG
// guest (absolute times are slow; the ratios are what count), and the capacity kmem onlines with
// our region layout against ndctl+daxctl defaults, on the default region and on a block-aligned one.
// Run: `npx tsc -p tsconfig.json && node dist/bench/online.js [rounds]` (two guests, one after
// the other). Prints one JSON.
//
// inProcess (the ratios held to the ≤ 1.0 target): bench/engine-online.ts calls the engine's
// online(ctx, DEV) / offline(ctx, DEV, {zero}) with engineContext({}), the CLI's context (real
// scrub-pipeline poison source, MSR read for the machine-check gate, lock, journal), quiet log.
// That is the code daxramd runs, in a process that already loaded node, the modules and the addon,
// so it is what a transition costs the daemon; the CLI numbers below also pay Node start-up
// (0.7-1 s for `node -e 0` under TCG, about three whole daxctl runs), which daxramd pays once per
// boot, not per device.
//   onlineWarm, offlineNoZeroWarm, offlineWithZeroingWarm: one long-lived process, after one
//       discarded warm-up cycle: the daemon's steady state. Online is sampled twice a round.
//   onlineCold: the first transition of a fresh process (modules and addon loaded first, as
//       daxramd's main does; the guest's page cache is warm): what daxramd pays at boot.
//   offlineNoZeroFirst: that process's next transition (informative only).
//   ready: process start to modules + addon loaded, the one-off cost kept out of the above.
//   daxctlOnline / daxctlOffline: `daxctl reconfigure-device -m system-ram DEV` /
//       `-f -m devdax DEV`, run by the shell interleaved with the in-process rounds (alternating
//       which goes first), while the engine process waits idle.
//   minMs / ratioOfMinimums: the fastest sample of each. Host load only ever adds time, and it
//       adds more to daxctl (a fresh process each run: exec is what a TCG guest pays most for)
//       than to a transition in a running process, so under load the medians flatter us and the
//       minimums do not.
//   ratio.offlineWithZeroingWarm is not like-for-like: daxctl hands the device back without
//       zeroing the RAM's former contents; ours does by default. offlineNoZeroWarm is the peer.
//
// cli (kept for continuity; includes Node start-up on our side):
//   ours-online: daxram online DEV (scrub + gates, unbind, kmem, online_movable, verify)
//   ours-online-noscrub: the same with the poison gate fed "none" (DAXRAM_TEST_POISON, through the test entry point)
//   ours-offline: daxram offline DEV (offline blocks, unbind, device_dax, zero the device)
//   ours-offline-nozero: daxram offline DEV --no-zero (what daxctl does)
//   daxctl-online / daxctl-offline: as above, interleaved with these
//   nodeStartup (`node -e 0`) is the anchor; minusNodeStartup subtracts it from ours only (daxctl
//   keeps its own, much smaller, exec cost), so it is an estimate, not a measurement.
//
// Timing: every wall-clock number is taken in the guest's bash from $EPOCHREALTIME, which costs
// no fork. `$(date +%s%N)` after a command would add one exec of date (dateExecMs, reported) to
// every shell-timed number: CLI ratios pulled toward 1, and daxctl inflated against in-process
// times, which never pay it. stderr goes to tmpfs, not the 9p results share, while timed.
//
// capacityMiB: `ndctl create-namespace -m devdax -s 672M` ×3 + `daxctl reconfigure-device -m
// system-ram` each, against `daxram provision REGION`; online_memblocks × 128 MiB. Target: the
// region less one 128 MiB block. unalignedRegion is the harness's default NVDIMM (region0 is
// 2047.875 MiB: QEMU carves the 128 KiB label area off a 2 GiB device, so the region ends short
// of a block); blockAlignedRegion boots a second guest whose NVDIMM is 128 KiB bigger, so region0
// is exactly 2 GiB = 16 memory blocks, like a real interleave set. The unaligned region cannot
// reach its target: its last, partial block is never onlined and the first holds the info block.
//
// Each side runs `rounds` times (default 3) on the same 1 GiB namespace; medians (the mean of the
// middle two for an even count); every sample is in `samples`. A TCG guest stretches 2-4x with
// host load, in bursts longer than a transition, so hostLoadAvg (1-minute, before and after the
// timing guest) says whether a run's ratios can be trusted; on a loaded host use more rounds.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {runGuest, type GuestResult} from '../test/kernel/harness';
import {median} from './stats';

const rounds = Number(process.argv[2] ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, not ${process.argv[2]}`);

// Both guests need it: the machine-check gate reads MCG_CAP through /dev/cpu/0/msr.
const PRELUDE = `
[ -n "\${BASH_VERSION:-}" ] || exec /bin/bash "$0"
set -u
O=$HARNESS_OUT
E=/tmp/bench-err
trap 'cat $E >> $O/err 2>/dev/null' EXIT
rec() { local t1=\${EPOCHREALTIME/[.,]/}; echo "$1 $(( (t1 - t0) / 1000 ))" >> $O/t; }
modprobe msr || exit 9
`;

// ndctl+daxctl defaults first (three namespaces), torn down with ndctl, then ours.
const CAPACITY = `
ndctl destroy-namespace -f -r region0 all > $O/destroy.log 2>&1
for i in 1 2 3; do ndctl create-namespace -r region0 -m devdax -s 672M >> $O/create.log 2>&1 || echo "create $i failed" >> $E; done
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -m system-ram $d > /dev/null 2>> $E; done
daxctl list -D > $O/ndctl.json
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -f -m devdax $d > /dev/null 2>> $E; done
ndctl destroy-namespace -f -r region0 all >> $O/destroy.log 2>&1
node bin/daxram provision region0 --json > $O/prov.json 2>> $E || exit 19
daxctl list -D > $O/ours.json
cat /sys/bus/nd/devices/region0/size > $O/region
`;

const TIMING = `
D=dax0.0
ENGINE=dist/bench/engine-online.js
now() { t0=\${EPOCHREALTIME/[.,]/}; }
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > /dev/null 2>> $E || exit 10
# Our modules come over 9p: read them once so no round pays the first read.
node bin/daxram --help > /dev/null
for i in $(seq ${rounds}); do
  now; node bin/daxram online $D > /dev/null 2>> $E || exit 11; rec cli.ours-online
  now; node bin/daxram offline $D > /dev/null 2>> $E || exit 12; rec cli.ours-offline
  now; daxctl reconfigure-device -m system-ram $D > /dev/null 2>> $E || exit 13; rec cli.daxctl-online
  now; daxctl reconfigure-device -f -m devdax $D > /dev/null 2>> $E || exit 14; rec cli.daxctl-offline
  node bin/daxram online $D > /dev/null 2>> $E || exit 15
  now; node bin/daxram offline $D --no-zero > /dev/null 2>> $E || exit 16; rec cli.ours-offline-nozero
  now; DAXRAM_TEST_POISON=none node dist/test-bundle/daxram.js online $D > /dev/null 2>> $E || exit 17; rec cli.ours-online-noscrub
  node bin/daxram offline $D --no-zero > /dev/null 2>> $E || exit 18
done
for i in $(seq ${rounds}); do
  now; node -e 0; rec anchor.node-startup
  now; node bin/daxram --help > /dev/null; rec anchor.cli-startup
  now; date +%s%N > /dev/null; rec anchor.date-exec
done

coproc W { exec node $ENGINE serve $D 2>> $E; }
# bash unsets W and W_PID when it reaps the coprocess.
WP=$W_PID WIN=\${W[1]} WOUT=\${W[0]}
# One transition in the long-lived engine process; $2, if given, is the key to record it under.
w() {
  echo "$1" >&$WIN
  local ms
  read -r ms <&$WOUT || { echo "engine serve ended during $1" >> $E; exit 21; }
  if [ -n "\${2:-}" ]; then echo "$2 $ms" >> $O/t; fi
}
engine() {
  w online engine.online-warm
  w offline engine.offline-nozero-warm
  w online engine.online-warm
  w offline-zero engine.offline-zero-warm
}
theirs() {
  now; daxctl reconfigure-device -m system-ram $D > /dev/null 2>> $E || exit 22; rec engine.daxctl-online
  now; daxctl reconfigure-device -f -m devdax $D > /dev/null 2>> $E || exit 23; rec engine.daxctl-offline
}
w online; w offline; w online; w offline-zero
for i in $(seq ${rounds}); do
  if [ $((i % 2)) -eq 1 ]; then engine; theirs; else theirs; engine; fi
  node $ENGINE cold $D >> $O/t 2>> $E || exit 24
done
echo quit >&$WIN
wait $WP || exit 25
`;

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;

async function guest(script: string, what: string, opts: {blockAlignedRegion?: boolean; timeoutMs: number}): Promise<GuestResult> {
  const r = await runGuest({script, keepOutDir: true, ...opts});
  process.stderr.write(`${what}: guest results in ${r.outDir}\n`);
  if (r.status !== 0) {
    const err = fs.existsSync(path.join(r.outDir, 'err')) ? r.readFile('err') : '';
    throw new Error(`${what}: guest script failed (${r.status}):\n${err}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

function capacity(r: GuestResult): {region: number; ours: number; ndctlDaxctl3x672M: number; target: number} {
  type Dax = {mode: string; online_memblocks?: number};
  const onl = (f: string) => r.readJson<Dax[]>(f).reduce((a, d) => a + (d.mode === 'system-ram' ? (d.online_memblocks ?? 0) : 0), 0) * 128;
  const region = Number(r.readFile('region').trim()) / 2 ** 20;
  return {region, ours: onl('ours.json'), ndctlDaxctl3x672M: onl('ndctl.json'), target: region - 128};
}

async function main(): Promise<void> {
  // The guest sees host files as of its boot: a stale or missing build would time the wrong code.
  if (!fs.existsSync(path.join(__dirname, 'engine-online.js'))) throw new Error('dist/bench/engine-online.js missing: run `npx tsc -p tsconfig.json` first');

  const load = () => r1(os.loadavg()[0]);
  const loadTiming = [load()];
  const timing = await guest(PRELUDE + TIMING + CAPACITY, 'timing + capacity (unaligned region)', {timeoutMs: 1_800_000});
  loadTiming.push(load());
  const aligned = await guest(PRELUDE + CAPACITY, 'capacity (block-aligned region)', {blockAlignedRegion: true, timeoutMs: 600_000});

  const samples = new Map<string, number[]>();
  for (const line of timing.readFile('t').trim().split('\n')) {
    const [k, v] = line.split(' ');
    samples.set(k, [...(samples.get(k) ?? []), Number(v)]);
  }
  const m = (k: string) => r1(median(samples.get(k) ?? []));

  const inProcess = (at: (k: string) => number) => ({
    onlineWarm: at('engine.online-warm'),
    onlineCold: at('engine.online-cold'),
    offlineNoZeroWarm: at('engine.offline-nozero-warm'),
    offlineWithZeroingWarm: at('engine.offline-zero-warm'),
    offlineNoZeroFirst: at('engine.offline-nozero-first'),
    ready: at('engine.ready'),
    daxctlOnline: at('engine.daxctl-online'),
    daxctlOffline: at('engine.daxctl-offline'),
  });
  const ratios = (x: ReturnType<typeof inProcess>) => ({
    onlineWarm: r3(x.onlineWarm / x.daxctlOnline),
    onlineCold: r3(x.onlineCold / x.daxctlOnline),
    offlineNoZeroWarm: r3(x.offlineNoZeroWarm / x.daxctlOffline),
    offlineWithZeroingWarm: r3(x.offlineWithZeroingWarm / x.daxctlOffline),
  });
  const e = inProcess(m);
  const least = inProcess((k) => r1(Math.min(...(samples.get(k) ?? [NaN]))));
  const c = {
    oursOnline: m('cli.ours-online'),
    oursOnlineWithoutScrub: m('cli.ours-online-noscrub'),
    oursOfflineWithZeroing: m('cli.ours-offline'),
    oursOfflineNoZero: m('cli.ours-offline-nozero'),
    daxctlOnline: m('cli.daxctl-online'),
    daxctlOffline: m('cli.daxctl-offline'),
  };
  const node = m('anchor.node-startup');
  const out = {
    rounds,
    target: 'inProcess.ratio.* <= 1.0 (offlineWithZeroingWarm excepted: daxctl does not zero)',
    inProcess: {ms: e, ratio: ratios(e), minMs: least, ratioOfMinimums: ratios(least)},
    cli: {
      ms: c,
      ratio: {
        online: r3(c.oursOnline / c.daxctlOnline),
        onlineWithoutScrub: r3(c.oursOnlineWithoutScrub / c.daxctlOnline),
        offlineWithZeroing: r3(c.oursOfflineWithZeroing / c.daxctlOffline),
        offlineNoZero: r3(c.oursOfflineNoZero / c.daxctlOffline),
      },
      nodeStartupMs: node,
      cliStartupMs: m('anchor.cli-startup'),
      minusNodeStartupMs: {
        online: r1(c.oursOnline - node),
        onlineWithoutScrub: r1(c.oursOnlineWithoutScrub - node),
        offlineWithZeroing: r1(c.oursOfflineWithZeroing - node),
        offlineNoZero: r1(c.oursOfflineNoZero - node),
      },
      minusNodeStartupRatio: {
        online: r3((c.oursOnline - node) / c.daxctlOnline),
        onlineWithoutScrub: r3((c.oursOnlineWithoutScrub - node) / c.daxctlOnline),
        offlineWithZeroing: r3((c.oursOfflineWithZeroing - node) / c.daxctlOffline),
        offlineNoZero: r3((c.oursOfflineNoZero - node) / c.daxctlOffline),
      },
    },
    timer: {clock: 'bash $EPOCHREALTIME (no fork)', dateExecMs: m('anchor.date-exec')},
    hostLoadAvg: {cpus: os.cpus().length, beforeTimingGuest: loadTiming[0], afterTimingGuest: loadTiming[1]},
    capacityMiB: {unalignedRegion: capacity(timing), blockAlignedRegion: capacity(aligned)},
    samples: Object.fromEntries(samples),
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

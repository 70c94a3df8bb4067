// Bench: online and offline of one device, ours against `daxctl reconfigure-device`, in one
// guest (TCG, so absolute times are slow; the ratio is what counts, target ≤ 1.0), and the
// capacity kmem onlines with our region layout against ndctl+daxctl defaults.
// Run: `npx tsc -p tsconfig.json && node dist/bench/online.js [rounds]`.
//
//   ours online:     daxram online DEV          (scrub + gates, unbind, kmem, online_movable, verify)
//   ours online, no scrub: the same with the poison gate fed "none" (DAXRAM_TEST_POISON)
//   daxctl online:   daxctl reconfigure-device -m system-ram DEV
//   ours offline:    daxram offline DEV          (offline blocks, unbind, device_dax, zero the device)
//   ours offline, no zeroing: daxram offline DEV --no-zero   (what daxctl does: no zeroing)
//   daxctl offline:  daxctl reconfigure-device -f -m devdax DEV   (-f: offline the memory first)
//   capacity:        daxram provision REGION  vs  ndctl create-namespace -m devdax -s 672M ×3 + daxctl
//
// Each side runs `rounds` times (default 3), alternating, on the same 1 GiB namespace; median.

import {runGuest} from '../test/kernel/harness';

const rounds = Number(process.argv[2] ?? 3);

const script = String.raw`
set -u
O=$HARNESS_OUT
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
modprobe msr
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > /dev/null || exit 10
for i in $(seq ${rounds}); do
  t=$(date +%s%N); node bin/daxram online dax0.0 > /dev/null 2>> $O/err || exit 11; echo "ours-online $(ms $t)" >> $O/t
  t=$(date +%s%N); node bin/daxram offline dax0.0 > /dev/null 2>> $O/err || exit 12; echo "ours-offline $(ms $t)" >> $O/t
  t=$(date +%s%N); daxctl reconfigure-device -m system-ram dax0.0 > /dev/null 2>> $O/err || exit 13; echo "daxctl-online $(ms $t)" >> $O/t
  t=$(date +%s%N); daxctl reconfigure-device -f -m devdax dax0.0 > /dev/null 2>> $O/err || exit 14; echo "daxctl-offline $(ms $t)" >> $O/t
  node bin/daxram online dax0.0 > /dev/null 2>> $O/err || exit 15
  t=$(date +%s%N); node bin/daxram offline dax0.0 --no-zero > /dev/null 2>> $O/err || exit 16; echo "ours-offline-nozero $(ms $t)" >> $O/t
  t=$(date +%s%N); DAXRAM_TEST_POISON=none node bin/daxram online dax0.0 > /dev/null 2>> $O/err || exit 17; echo "ours-online-noscrub $(ms $t)" >> $O/t
  node bin/daxram offline dax0.0 --no-zero > /dev/null 2>> $O/err || exit 18
done
t=$(date +%s%N); node -e 0; echo "node-startup $(ms $t)" >> $O/t
t=$(date +%s%N); node bin/daxram --help > /dev/null; echo "cli-startup $(ms $t)" >> $O/t
# Capacity: ndctl+daxctl defaults first (three namespaces), torn down with ndctl, then ours.
ndctl destroy-namespace -f -r region0 all > $O/destroy.log 2>&1
for i in 1 2 3; do ndctl create-namespace -r region0 -m devdax -s 672M >> $O/create.log 2>&1 || echo "create $i failed" >> $O/err; done
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -m system-ram $d > /dev/null 2>> $O/err; done
daxctl list -D > $O/ndctl.json
for d in $(ls /sys/bus/dax/devices); do daxctl reconfigure-device -f -m devdax $d > /dev/null 2>> $O/err; done
ndctl destroy-namespace -f -r region0 all >> $O/destroy.log 2>&1
node bin/daxram provision region0 --json > $O/prov.json 2>> $O/err || exit 19
daxctl list -D > $O/ours.json
cat /sys/bus/nd/devices/region0/size > $O/region
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

(async () => {
  const r = await runGuest({script, timeoutMs: 1_800_000, keepOutDir: true});
  console.error('guest results in', r.outDir);
  if (r.status !== 0) throw new Error(`guest script failed (${r.status}): ${r.readFile('err')}`);
  const t = new Map<string, number[]>();
  for (const line of r.readFile('t').trim().split('\n')) {
    const [k, v] = line.split(' ');
    t.set(k, [...(t.get(k) ?? []), Number(v)]);
  }
  const m = (k: string) => median(t.get(k) ?? [NaN]);
  type Dax = {mode: string; online_memblocks?: number};
  const onl = (f: string) => r.readJson<Dax[]>(f).reduce((a, d) => a + (d.mode === 'system-ram' ? d.online_memblocks ?? 0 : 0), 0) * 128;
  const region = Number(r.readFile('region').trim()) / 2 ** 20;
  const out = {
    rounds,
    ms: Object.fromEntries([...t.keys()].map((k) => [k, m(k)])),
    ratio: {
      online: m('ours-online') / m('daxctl-online'),
      onlineWithoutScrub: m('ours-online-noscrub') / m('daxctl-online'),
      offlineWithZeroing: m('ours-offline') / m('daxctl-offline'),
      offlineNoZero: m('ours-offline-nozero') / m('daxctl-offline'),
    },
    capacityMiB: {region, ours: onl('ours.json'), ndctlDaxctl3x672M: onl('ndctl.json'), target: region - 128},
  };
  console.log(JSON.stringify(out, null, 2));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

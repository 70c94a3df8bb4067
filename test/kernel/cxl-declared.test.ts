// Capacity an operator lays out survives a power cycle (6.12 and the newest kernel, the Debian 13
// root with the package under systemd): nothing programs OS-managed CXL decoders again after
// power-off, and the firmware gives a split soft-reserved range back as one device, so daxramd
// lays both out again, from the CLI's declarations in /var/lib/daxram and from the config's
// [region] sections. Four type-3 devices (serials 0x1000-0x1003), then three.
//   boot 1 (one QEMU process): daxramd makes the region the config declares over 0x1002,0x1003
//     at start, 512 MiB System RAM + 512 MiB devdax, with no CLI run; then the CLI provisions
//     0x1000,0x1001, hands it back to devdax and splits it (reassign --ram 512M), and splits
//     hmem.0 (reassign --ram 128M); the state directory is copied to the results share, as a
//     disk keeps it;
//   boot 2 (a new QEMU process: decoders and memory start from nothing; the device with serial
//     0x1003 is gone from the command line): when daxramd is ready, the CLI's region is there
//     again over the same memdevs with the same split (512 MiB online Movable + 512 MiB devdax),
//     the hmem range is split again (128 MiB + 128 MiB), and the config's region is reported
//     waiting for 0x1003 with 0x1002's capacity left alone; `daxram release` then drops the
//     CLI's declaration.

import anyTest from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {HMEM_RANGE_ARG, kernelTest, runGuest} from './harness';
import {daemonInstall, PACKAGE_ROOT} from './daemon-setup';
import {CXL_FREE_STATE} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3 and QEMU >= 8.1', root: PACKAGE_ROOT});

const CONF = `[daemon]
log-level = info
# The config's region waits this long for its memdevs at start (boot 2: one never comes).
device-timeout = 5

[region expander]
memdevs = 0x1002, 0x1003
ram = 512M
`;

const SCRIPT = String.raw`
O=$HARNESS_OUT
dx() { daxram "$@"; }
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
# memN by serial: QEMU's cxl-vmemI is not the kernel's memI (probe order).
mem_of() { for m in /sys/bus/cxl/devices/mem*; do [ "$(cat $m/serial)" = "$1" ] && basename $m; done; }
${CXL_FREE_STATE}
waitactive; echo $? > $O/b$B-active.rc
daxctl list -D > $O/b$B-daxctl-start.json
cxl list -R -u > $O/b$B-region-start.json 2>&1
dx status --json > $O/b$B-status.json 2>&1
journalctl -b -u daxramd -o cat --no-pager > $O/b$B-journal.txt
if [ ! -e $O/boot1-done ]; then
  A=$(mem_of 0x1000),$(mem_of 0x1001)
  echo $A > $O/b1-memdevs
  dx provision $A --json > $O/b1-prov.json 2> $O/b1-prov.err; echo $? > $O/b1-prov.rc
  R=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).region)' $O/b1-prov.json)
  D=$(basename $(ls -d /sys/bus/cxl/devices/$R/dax_region*/dax*.0))
  # Back to devdax unzeroed: zeroing 1 GiB of emulated CXL memory costs a minute of TCG time.
  dx offline $D --no-zero --json > $O/b1-off.json 2> $O/b1-off.err; echo $? > $O/b1-off.rc
  dx reassign $R --ram 512M --json > $O/b1-split.json 2> $O/b1-split.err; echo $? > $O/b1-split.rc
  H=$(ls /sys/bus/platform/devices | grep '^hmem\.' | head -1)
  dx reassign $H --ram 128M --json > $O/b1-hmem.json 2> $O/b1-hmem.err; echo $? > $O/b1-hmem.rc
  cat /var/lib/daxram/desired.json > $O/b1-desired.json 2>&1
  journalctl -b -u daxramd -o cat --no-pager > $O/b1-journal-end.txt
  mkdir -p $O/state && cp -a /var/lib/daxram/. $O/state/
  touch $O/boot1-done
  sync
  exit 0
fi
# Boot 2: daxramd is ready; what it made is there, before anything waits.
free_state > $O/b2-free
R=$(ls /sys/bus/cxl/devices | grep '^region' | head -1)
dx release $R --no-zero --json > $O/b2-rel.json 2> $O/b2-rel.err; echo $? > $O/b2-rel.rc
cat /var/lib/daxram/desired.json > $O/b2-desired.json 2>&1
free_state > $O/b2-free-after
`;

type J = Record<string, any>;

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The System RAM and devdax halves of a split region or range (daxctl list -D), by size. */
function halves(t: any, all: J[], size: number, ram: number, what: string): void {
  const part = all.filter((x) => x.size === ram || x.size === size - ram);
  t.like(part.find((x) => x.mode === 'system-ram'), {size: ram, movable: true, online_memblocks: ram / (128 * MiB), total_memblocks: ram / (128 * MiB)}, `${what}: ${JSON.stringify(all)}`);
  t.truthy(part.find((x) => x.mode === 'devdax' && x.size === size - ram), `${what}: ${JSON.stringify(all)}`);
}

test('declared capacity comes back after a power cycle: the CLI\'s CXL region and splits, the config\'s [region]; a missing memdev is reported and nothing else changes', async (t) => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-declared-'));
  t.teardown(() => (t.passed ? fs.rmSync(outDir, {recursive: true, force: true}) : t.log(`results kept in ${outDir}`)));
  const inst = daemonInstall(undefined, {conf: CONF});
  // The state directory as a disk keeps it across the power cycle.
  const preScript = `${inst.preScript}\nif [ -d /harness/state ]; then mkdir -p /var/lib/daxram && cp -a /harness/state/. /var/lib/daxram/; fi`;
  const boot = (b: number, memdevs: 3 | 4) =>
    runGuest({systemd: true, cxl: {memdevs}, nvdimm: false, kernelArgs: [HMEM_RANGE_ARG], ...inst, preScript, script: `B=${b}\n${SCRIPT}`, outDir, reuseOutDir: true, timeoutMs: 900_000});
  const f = (n: string) => fs.readFileSync(path.join(outDir, n), 'utf8').trim();
  const r1 = await boot(1, 4);
  t.is(r1.status, 0, r1.stderr);
  t.is(f('b1-active.rc'), '0');

  // The config's region, made by daxramd at its first start with no CLI run.
  const cfgKey = 'cxl:0x1002,0x1003';
  const st1 = JSON.parse(f('b1-status.json'));
  t.like(st1.declared?.[cfgKey], {state: 'made', by: '[region expander] /etc/daxram/daxram.conf:6'}, `${JSON.stringify(st1.declared)}\n${f('b1-journal.txt')}`);
  t.regex(f('b1-journal.txt'), /made region\d+ over mem\d,mem\d, as \[region expander\]/);
  t.regex(f('b1-journal.txt'), /split region\d+ as \[region expander\] .* declared it: 512\.00 MiB System RAM/);
  halves(t, JSON.parse(f('b1-daxctl-start.json')), GiB, 512 * MiB, 'the config region in boot 1');

  // The CLI's region, split.
  t.is(f('b1-prov.rc'), '0', f('b1-prov.err'));
  const p = JSON.parse(f('b1-prov.json'));
  t.like(p, {size: GiB});
  t.is(f('b1-off.rc'), '0', f('b1-off.err'));
  t.is(f('b1-split.rc'), '0', f('b1-split.err'));
  const desired1 = JSON.parse(f('b1-desired.json')).records as J[];
  const rec = desired1.find((x) => x.key.startsWith('cxl:'))!;
  // By serial, in the region's position order; the split kept with it.
  t.like(rec, {key: 'cxl:0x1000,0x1001', size: String(GiB), ram: String(512 * MiB), mode: 'ram', action: 'reassign'});
  t.deepEqual([...rec.memdevs].sort(), ['0x1000', '0x1001']);
  t.false(desired1.some((x) => x.key === cfgKey), 'the config region is the config\'s: no record of it');
  t.is(f('b1-hmem.rc'), '0', f('b1-hmem.err'));
  const split = desired1.find((x) => x.key.startsWith('hmem:'))!;
  t.like(split, {size: String(256 * MiB), ram: String(128 * MiB), mode: 'ram', action: 'reassign'});

  // Boot 2: serial 0x1003 is gone.
  const r2 = await boot(2, 3);
  t.is(r2.status, 0, r2.stderr);
  t.is(f('b2-active.rc'), '0');
  const journal = f('b2-journal.txt');
  t.is(f('b2-free'), 'regions=1 dpa=2', `the CLI's region and its two endpoint decoders programmed again; 0x1002 left alone\n${journal}\n${f('b2-status.json')}`);
  const all = JSON.parse(f('b2-daxctl-start.json')) as J[];
  t.is(all.length, 4, JSON.stringify(all));
  halves(t, all.filter((x) => x.size === 512 * MiB), GiB, 512 * MiB, 'the CLI region after the power cycle');
  halves(t, all.filter((x) => x.size === 128 * MiB), 256 * MiB, 128 * MiB, 'the hmem range after the power cycle');
  const region = JSON.parse(f('b2-region-start.json'));
  t.like(Array.isArray(region) ? region[0] : region, {interleave_ways: 2, decode_state: 'commit', size: '1024.00 MiB (1073.74 MB)'});
  const st = JSON.parse(f('b2-status.json'));
  t.like(st.declared?.[rec.key], {state: 'made', region: 'region0'}, JSON.stringify(st.declared));
  t.regex(journal, /made region0 over mem\d,mem\d, as daxram reassign at .* declared it/);
  t.like(st.declared?.[split.key], {state: 'present'}, JSON.stringify(st.declared));
  t.regex(journal, /split hmem\.\d+ as daxram reassign at .* declared it: 128\.00 MiB System RAM/);
  t.like(st.declared?.[cfgKey], {state: 'waiting'}, JSON.stringify(st.declared));
  t.regex(st.declared?.[cfgKey]?.detail ?? '', /no memdev with serial 0x1003: nothing is made, the others' capacity is left alone/);
  t.regex(journal, /ready without the declared region cxl:0x1002,0x1003/);
  t.is(f('b2-rel.rc'), '0', f('b2-rel.err'));
  t.false(JSON.parse(f('b2-desired.json')).records.some((x: J) => x.key.startsWith('cxl:')), 'release dropped the declaration');
  t.is(f('b2-free-after'), 'regions=0 dpa=0', 'the config region was not made meanwhile either');
});

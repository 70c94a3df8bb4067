// A CXL region made by `daxram provision` survives a power cycle (6.12 and the newest kernel,
// the Debian 13 root with the package under systemd): nothing programs OS-managed decoders again
// after power-off, so daxramd does, from the declaration provision left in /var/lib/daxram.
//   boot 1 (one QEMU process): provision mem0,mem1 → region0 online; the state directory is
//     copied to the results share, as a disk keeps it;
//   boot 2 (a new QEMU process: the devices' decoders and memory start from nothing): the state
//     directory is put back before systemd starts; when daxramd is ready, region0 is there again
//     over the same memdevs, at the same address, onlined Movable, and `daxram status` says it
//     was made again; `daxram release region0` then drops the declaration.
// A soft-reserved range split by `daxram reassign hmem.N --ram 128M` in boot 1 comes back from
// the firmware as one device in boot 2; daxramd lays it out again from the split's declaration:
// 128 MiB System RAM (online, Movable) and 128 MiB devdax, as daxctl shows.

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
`;

const SCRIPT = String.raw`
O=$HARNESS_OUT
dx() { daxram "$@"; }
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
${CXL_FREE_STATE}
waitactive; echo $? > $O/b$B-active.rc
if [ ! -e $O/boot1-done ]; then
  # cxl_mem attaches the endpoints a moment after the modules load.
  for i in $(seq 1 120); do [ "$(ls -d /sys/bus/cxl/devices/endpoint*/decoder*.0 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done
  dx provision mem0,mem1 --json > $O/b1-prov.json 2> $O/b1-prov.err; echo $? > $O/b1-prov.rc
  H=$(ls /sys/bus/platform/devices | grep '^hmem\.' | head -1)
  dx reassign $H --ram 128M --json > $O/b1-hmem.json 2> $O/b1-hmem.err; echo $? > $O/b1-hmem.rc
  cat /var/lib/daxram/desired.json > $O/b1-desired.json 2>&1
  mkdir -p $O/state && cp -a /var/lib/daxram/. $O/state/
  touch $O/boot1-done
  sync
  exit 0
fi
# Boot 2: daxramd is ready; the region it made is there, before anything waits.
free_state > $O/b2-free
daxctl list -D > $O/b2-daxctl.json
cxl list -R -u > $O/b2-region.json 2>&1
dx status --json > $O/b2-status.json 2>&1
journalctl -b -u daxramd -o cat --no-pager > $O/b2-journal.txt
dx release region0 --no-zero --json > $O/b2-rel.json 2> $O/b2-rel.err; echo $? > $O/b2-rel.rc
cat /var/lib/daxram/desired.json > $O/b2-desired.json 2>&1
free_state > $O/b2-free-after
`;

type J = Record<string, any>;

test('a provisioned CXL region is made again by daxramd after a power cycle, from the declaration; release drops it', async (t) => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-declared-'));
  t.teardown(() => fs.rmSync(outDir, {recursive: true, force: true}));
  const inst = daemonInstall(undefined, {conf: CONF});
  // The state directory as a disk keeps it across the power cycle.
  const preScript = `${inst.preScript}\nif [ -d /harness/state ]; then mkdir -p /var/lib/daxram && cp -a /harness/state/. /var/lib/daxram/; fi`;
  const boot = (b: number) => runGuest({systemd: true, cxl: {memdevs: 2}, nvdimm: false, kernelArgs: [HMEM_RANGE_ARG], ...inst, preScript, script: `B=${b}\n${SCRIPT}`, outDir, reuseOutDir: true, timeoutMs: 900_000});
  const r1 = await boot(1);
  t.is(r1.status, 0, r1.stderr);
  const f = (n: string) => fs.readFileSync(path.join(outDir, n), 'utf8').trim();
  t.is(f('b1-prov.rc'), '0', f('b1-prov.err'));
  const p = JSON.parse(f('b1-prov.json'));
  t.like(p, {region: 'region0', memdevs: ['mem0', 'mem1'], size: 2 ** 30});
  const rec = JSON.parse(f('b1-desired.json')).records.find((x: J) => x.key.startsWith('cxl:'));
  // By serial, in the region's position order (which memN has which serial is the kernel's enumeration).
  t.like(rec, {size: String(2 ** 30), mode: 'ram', action: 'provision'});
  t.deepEqual([...rec.memdevs].sort(), ['0x1000', '0x1001']);
  t.is(rec.key, 'cxl:0x1000,0x1001', 'a region is its set of memdevs');
  t.is(f('b1-hmem.rc'), '0', f('b1-hmem.err'));
  const split = JSON.parse(f('b1-desired.json')).records.find((x: J) => x.key.startsWith('hmem:'));
  t.like(split, {size: String(256 * 2 ** 20), ram: String(128 * 2 ** 20), mode: 'ram', action: 'reassign'});

  const r2 = await boot(2);
  t.is(r2.status, 0, r2.stderr);
  t.is(f('b2-active.rc'), '0');
  t.is(f('b2-free'), 'regions=1 dpa=2', `the region and both endpoint decoders, programmed again\n${f('b2-journal.txt')}\n${f('b2-status.json')}`);
  const all = JSON.parse(f('b2-daxctl.json')) as J[];
  const d = all.filter((x) => x.size === 2 ** 30);
  t.is(d.length, 1, JSON.stringify(all));
  t.like(d[0], {mode: 'system-ram', size: 2 ** 30, movable: true, online_memblocks: 8, total_memblocks: 8});
  // The hmem range, one device again after the power cycle, laid out as the split declared.
  const hm = all.filter((x) => x.size !== 2 ** 30);
  t.is(hm.length, 2, JSON.stringify(all));
  t.like(hm.find((x) => x.mode === 'system-ram'), {size: 128 * 2 ** 20, movable: true, online_memblocks: 1, total_memblocks: 1});
  t.like(hm.find((x) => x.mode === 'devdax'), {size: 128 * 2 ** 20});
  const region = JSON.parse(f('b2-region.json'));
  t.like(Array.isArray(region) ? region[0] : region, {region: 'region0', interleave_ways: 2, decode_state: 'commit', resource: p.resource === undefined ? '0x590000000' : `0x${Number(p.resource).toString(16)}`});
  const st = JSON.parse(f('b2-status.json'));
  t.regex(st.declared?.[rec.key] ?? '', /^made again: region0$/, JSON.stringify(st.declared));
  t.regex(f('b2-journal.txt'), /made region0 over mem\d,mem\d again, as daxram provision declared it/);
  t.regex(st.declared?.[split.key] ?? '', /^laid out again: hmem\.\d+$/, JSON.stringify(st.declared));
  t.regex(f('b2-journal.txt'), /laid hmem\.\d+ out again as daxram reassign declared it/);
  t.is(f('b2-rel.rc'), '0', f('b2-rel.err'));
  t.false(JSON.parse(f('b2-desired.json')).records.some((x: J) => x.key.startsWith('cxl:')), 'release dropped the declaration');
  t.is(f('b2-free-after'), 'regions=0 dpa=0');
});

// Power cuts in the middle of moving capacity (6.12, CXL + hmem): the machine goes down with
// sysrq b (no sync, no shutdown) right after a step of provision, reassign and release, and the
// next boot is a new QEMU process (a power cycle: the CXL devices' volatile memory and decoders
// start from scratch, as on real hardware; a warm reset inside one QEMU leaves QEMU's CXL DVSEC
// range registers set and cxl_mem refuses the endpoints). The state directory's journal sits on
// the results share, kept as a disk would keep it. On every next boot `daxram recover`
// converges: the CXL capacity is free (nothing the OS programmed survives; nothing is left
// half-programmed in a decoder), and the hmem range, which comes back as the kernel's single
// device, is laid out again as the interrupted reassign asked.
// No daxram-hotplug-guard runs in this script-mode guest: the kernel argument
// memhp_default_state=offline stands in for the hold it would take at boot.

import anyTest from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {GuestError, HMEM_RANGE_ARG, kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_FREE_STATE, CXL_PROVISION_DEVDAX} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3 and QEMU >= 8.1'});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
ST=$O/state; mkdir -p $ST
B=$(( $(cat $O/boot 2>/dev/null || echo 0) + 1 )); echo $B > $O/boot; sync
dx() { node bin/daxram "$@" --state-dir $ST; }
dxr() { P=$1; shift; DAXRAM_TEST_RESET_AFTER=$P node dist/test-bundle/daxram.js "$@" --state-dir $ST; }
modprobe msr
${CXL_FREE_STATE}
${CXL_PROVISION_DEVDAX}
after() {
  cp $ST/layout.json $O/b$B-journal.json 2>/dev/null
  dx recover --json > $O/b$B-recover.json 2> $O/b$B-recover.err; echo $? > $O/b$B-recover.rc
  free_state > $O/b$B-free
  ls $ST | grep 'journal\|layout' > $O/b$B-left
  daxctl list -D > $O/b$B-daxctl.json
}
# cxl_mem attaches the endpoints a moment after the modules load.
for i in $(seq 1 120); do [ "$(ls -d /sys/bus/cxl/devices/endpoint*/decoder*.0 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done
H=$(ls /sys/bus/platform/devices | grep '^hmem\.' | head -1)
case $B in
1) dxr decoders provision mem0,mem1 ;;
2) after; dxr commit provision mem0,mem1 ;;
# Boots 3 and 4 start from the whole capacity as devdax, unzeroed: the steps under test are
# reassign's resize and release's destroy.
3) after; provision_devdax mem0,mem1 $O/b3-prov.json; dxr resize reassign region0 --ram 512M ;;
4) after; dx provision mem0,mem1 --no-online --json > $O/b4-prov.json 2> $O/b4-prov.err; dxr destroy release region0 --no-zero ;;
5) after; dxr resize reassign $H --ram 128M ;;
6) after; echo $H > $O/hmem; exit 0 ;;
esac
echo "boot $B: the reset did not happen" > $O/b$B-noreset
exit 1
`;

type J = Record<string, any>;
let r: GuestResult;
let outDir = '';
test.after.always(() => outDir && fs.rmSync(outDir, {recursive: true, force: true}));
/** Boots that went down by the reset, as the console says. */
const cuts: number[] = [];
test.before(async () => {
  // One results share for every boot: the state directory and the boot counter live there.
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-reset-'));
  const boot = () => runGuest({script: SCRIPT, cxl: {memdevs: 2}, nvdimm: false, kernelArgs: [HMEM_RANGE_ARG, 'memhp_default_state=offline'], outDir, reuseOutDir: true, timeoutMs: 600_000});
  for (let b = 1; b <= 5; b++) {
    try {
      await boot();
      throw new Error(`boot ${b} reported a status: the reset did not happen`);
    } catch (e) {
      if (!(e instanceof GuestError) || !/sysrq: Resetting/.test(e.console)) throw e;
      cuts.push(b);
    }
  }
  r = await boot();
});
const f = (n: string) => r.readFile(n).trim();

test('six boots, five power cuts: each interrupted transition left its journal, and recover converged it', (t) => {
  t.deepEqual(cuts, [1, 2, 3, 4, 5], 'boots 1-5 went down by sysrq b');
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.is(f('boot'), '6');
  const ops: Record<number, string> = {2: 'cxl-provision', 3: 'cxl-provision', 4: 'dax-reassign', 5: 'cxl-release', 6: 'dax-reassign'};
  for (let b = 2; b <= 6; b++) {
    t.is(r.readJson<J>(`b${b}-journal.json`).op, ops[b], `boot ${b}: the journal survived the reset`);
    t.is(f(`b${b}-recover.rc`), '0', `boot ${b}: ${f(`b${b}-recover.err`)}`);
    t.is(f(`b${b}-left`), '', `boot ${b}: nothing left in the journal directory`);
  }
});

test('CXL: after a reset in provision (decoders, commit), reassign and release, the capacity is free and provisions again', (t) => {
  for (const b of [2, 3, 4, 5]) t.is(f(`b${b}-free`), 'regions=0 dpa=0', `boot ${b}`);
  t.regex(f('b2-recover.err'), /its capacity is free/);
  t.regex(f('b4-recover.err'), /region0 is gone: nothing to finish/);
  t.like(r.readJson<J>('b3-prov.json'), {region: 'region0', size: 2 ** 30}, 'boot 3: the whole capacity provisions after the reset');
  t.like(r.readJson<J>('b4-prov.json'), {region: 'region0', size: 2 ** 30});
});

test('hmem: a reset in the middle of reassign --ram 128M is finished on the next boot (daxctl)', (t) => {
  const l = r.readJson<J[]>('b6-daxctl.json');
  t.is(l.length, 2, JSON.stringify(l));
  t.like(l.find((d) => d.mode === 'system-ram'), {size: 128 * 2 ** 20, online_memblocks: 1, total_memblocks: 1, movable: true});
  t.like(l.find((d) => d.mode === 'devdax'), {size: 128 * 2 ** 20});
  t.regex(f('b6-recover.err'), /laid out again/);
});

// Scrub-and-clear on a real 6.1 kernel: nfit_test's bus emulates ARS and CLEAR_ERROR, QEMU's
// NFIT has no ARS. One guest boot checks, in order:
//  1. QEMU's ACPI.NFIT devdax device: `daxram scrub` reports "scrub unsupported" (commands: cmd_call).
//  2. nfit_test.0 devdax device with poison injected by ndctl (256 B at a block, a saturated
//     512 B block covering two clear units, three saturated blocks) and by our own ND_CMD_CALL
//     (100 B straddling a 256 B clear_err_unit boundary, not sector aligned, no notify so only
//     ARS can find it): `daxram clear` finds and clears all of it; the region's badblocks,
//     `ndctl list --media-errors`, nfit_test's injection list and a fresh kernel scrub agree
//     that nothing remains.
//  3. With the kernel's own scrub just started (1 > ndbusN/nfit/scrub), the pipeline gets EBUSY
//     from ARS_START, waits for the kernel scrub, then scrubs and clears.
//  4. MCG_CAP through /dev/cpu/0/msr (after modprobe msr): SER_P is known.

import anyTest from 'ava';
import {kernelTest, runGuest} from './harness';
import {NFIT_DEVDAX_NAMESPACE} from './nfit';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

interface R {
  start: number;
  size: number;
}
const covers = (rs: R[], a: number, len = 1) => rs.some((r) => r.start <= a && a + len <= r.start + r.size);

const SCRIPT = String.raw`
set -e
OUT=$HARNESS_OUT
D="node dist/test/kernel/scrub-driver.js"
X="node bin/daxram"

# 1. QEMU's bus: no ARS.
ndctl create-namespace -r region0 -m devdax -s 256M -a 2M > $OUT/qemu-ns.json
QDAX=$(grep -o '"chardev":"dax[0-9.]*"' $OUT/qemu-ns.json | cut -d'"' -f4)
$X --json scrub $QDAX > $OUT/qemu-scrub.json

# 2. nfit_test.0: inject, clear, check with the kernel and ndctl.
${NFIT_DEVDAX_NAMESPACE}
echo "$NS $DAX $REG $BUS" > $OUT/names
ndctl inject-error --block=16 --count=1 $NS >/dev/null
ndctl inject-error --block=100 --count=1 --saturate $NS >/dev/null
ndctl inject-error --block=2000 --count=3 --saturate $NS >/dev/null
ndctl wait-scrub nfit_test.0 >/dev/null
$D inject $DAX $((300 * 512 + 200)) 100 > $OUT/inject.json
cat /sys/bus/nd/devices/$REG/badblocks > $OUT/bb-before
ndctl inject-error --status $NS > $OUT/inject-status-before.json 2>&1 || true
ndctl list -n $NS --media-errors > $OUT/media-before.json
rc=0; $X --json clear $DAX > $OUT/clear.json 2> $OUT/clear.err || rc=$?
echo $rc > $OUT/clear.rc
cat /sys/bus/nd/devices/$REG/badblocks > $OUT/bb-after
ndctl list -n $NS --media-errors > $OUT/media-after.json
ndctl inject-error --status $NS > $OUT/inject-status-after.json 2>&1 || true
ndctl start-scrub nfit_test.0 >/dev/null; ndctl wait-scrub nfit_test.0 >/dev/null
cat /sys/bus/nd/devices/$REG/badblocks > $OUT/bb-after-kernel-scrub

# 3. The kernel's own scrub is running when we start.
$D inject $DAX $((5000 * 512)) 512 > /dev/null
$D busy-clear $DAX > $OUT/busy.json
cat /sys/bus/nd/devices/$REG/badblocks > $OUT/bb-after-busy

# 4. Machine-check recovery capability.
modprobe msr
$D mce > $OUT/mce.json
`;

test('scrub and clear: nfit_test poison found, cleared, verified; QEMU unsupported; EBUSY waited; SER_P known', async (t) => {
  const r = await runGuest({script: SCRIPT, nfitTest: true, timeoutMs: 420_000});
  t.is(r.status, 0, `${r.stderr}\n${r.stdout}`);
  const [ns, dax, region, bus] = r.readFile('names').trim().split(' ');
  t.log(`${ns} ${dax} on ${region} ${bus}; guest ${(r.durationMs / 1000).toFixed(0)} s`);

  // 1. QEMU
  const q = r.readJson<any>('qemu-scrub.json');
  t.false(q.scrubSupported);
  t.is(q.provider, 'ACPI.NFIT');
  t.regex(q.reason, /commands: cmd_call/);

  // 2. nfit_test
  t.is(r.readFile('clear.rc').trim(), '0', r.readFile('clear.err'));
  const c = r.readJson<any>('clear.json');
  t.log(`clear: found ${c.found.length}, cleared ${c.cleared.length}, remaining ${c.remaining.length}, durations ${JSON.stringify(c.durations)}`);
  t.true(c.scrubSupported);
  t.is(c.device, dax);
  t.is(c.bus, bus);
  t.is(c.provider, 'nfit_test.0');
  t.is(c.clearErrUnit, 256);
  const S: number = c.ranges[0].start;
  const injected = [S + 16 * 512, S + 100 * 512, S + 100 * 512 + 256, S + 2000 * 512, S + 2002 * 512 + 511, S + 300 * 512 + 200];
  for (const a of injected) {
    t.true(covers(c.found, a), `found covers 0x${a.toString(16)}`);
    t.true(covers(c.cleared, a), `cleared covers 0x${a.toString(16)}`);
  }
  // Our byte-precise injection straddling the clear unit boundary at +256: ARS reports it
  // exactly, and only ARS knew it before the clear (it was injected without notify).
  const straddle = {start: S + 300 * 512 + 200, size: 100};
  t.true(covers(c.foundByArs, straddle.start, straddle.size));
  t.false(covers(c.foundInBadblocks, straddle.start));
  t.true(covers(c.cleared, S + 300 * 512, 512), 'cleared both clear units the straddling error touches');
  for (const p of c.planned) t.is((p.start % 256) + (p.size % 256), 0, 'CLEAR_ERROR ranges aligned to clear_err_unit');
  t.deepEqual(c.failed, []);
  t.deepEqual(c.remaining, []);
  t.true(c.verified);
  // The oracles: before the clear they saw the poison, after it they see none.
  t.not(r.readFile('bb-before').trim(), '', 'the kernel knew the ndctl-injected poison before');
  t.regex(r.readFile('media-before.json'), /badblock/);
  t.regex(r.readFile('inject-status-before.json'), /"block"/, 'nfit_test lists the injected ranges before');
  t.is(r.readFile('bb-after').trim(), '', 'region badblocks empty after daxram clear');
  t.notRegex(r.readFile('media-after.json'), /badblock/, 'ndctl list --media-errors shows none');
  t.notRegex(r.readFile('inject-status-after.json'), /"block"/, 'nfit_test forgot every injected range');
  t.is(r.readFile('bb-after-kernel-scrub').trim(), '', "the kernel's own scrub finds nothing either");

  // 3. EBUSY from the kernel's scrub
  const b = r.readJson<any>('busy.json');
  t.regex(b.attrBefore, /^\d+\+$/, 'the kernel scrub was running when the pipeline started');
  t.true(b.result.waitedForKernelScrub);
  t.true(b.result.ars[0].kernelScrubBusy >= 1);
  t.true(covers(b.result.cleared, S + 5000 * 512, 512));
  t.deepEqual(b.result.remaining, []);
  t.true(b.result.verified);
  t.is(r.readFile('bb-after-busy').trim(), '');

  // 4. MCG_CAP
  const m = r.readJson<any>('mce.json');
  t.not(m.serP, 'unknown', m.reason);
  t.is(m.source, '/dev/cpu/0/msr');
  t.log(`MCG_CAP ${m.mcgCap} SER_P ${m.serP}`);
});

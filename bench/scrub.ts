// Bench: address range scrub + clear of one injected error on nfit_test, ours against ndctl's,
// in one guest. Run: `npx tsc -p tsconfig.json && node dist/bench/scrub.js [rounds]`.
//
//   ours:   daxram --json clear DAX        (scrub of the device's range, CLEAR_ERROR, verifying scrub)
//   ndctl:  ndctl start-scrub BUS; ndctl wait-scrub BUS; ndctl clear-errors NS
//
// Each round injects one error (ndctl inject-error --no-notify, so no kernel scrub starts on its
// own), runs one side, checks the region's badblocks and nfit_test's injection list are empty,
// and alternates which side goes first. Wall time is measured in the guest around each command
// (date +%s%N). ndctl is a native binary while daxram is node loading its modules over 9p in a
// TCG guest, so two ratios are printed: wall-clock, and daxram's own pipeline time
// (durations.totalMs, from opening /dev/ndctlN to the verified result) against ndctl's wall time.

import {runGuest} from '../test/kernel/harness';
import {NFIT_DEVDAX_NAMESPACE} from '../test/kernel/nfit';

const rounds = Number(process.argv[2] ?? 2);

const SCRIPT = String.raw`
set -e
OUT=$HARNESS_OUT
${NFIT_DEVDAX_NAMESPACE}
ndctl wait-scrub nfit_test.0 >/dev/null
node bin/daxram --help >/dev/null   # warm the guest's page cache for node and our modules
now() { date +%s%N; }
check() {
  bb=$(cat /sys/bus/nd/devices/$REG/badblocks)
  st=$(ndctl inject-error --status $NS 2>&1 || true)
  if [ -n "$bb" ] || echo "$st" | grep -q '"block"'; then echo "FAIL $1: badblocks=[$bb] status=[$st]"; exit 1; fi
}
ours() {
  ndctl inject-error --block=$1 --count=1 --no-notify $NS >/dev/null
  t0=$(now); node bin/daxram --json clear $DAX > $OUT/ours-$1.json; t1=$(now)
  echo "ours $1 $(( (t1 - t0) / 1000000 ))" >> $OUT/times
  check ours-$1
}
theirs() {
  ndctl inject-error --block=$1 --count=1 --no-notify $NS >/dev/null
  t0=$(now); ndctl start-scrub nfit_test.0 >/dev/null; ndctl wait-scrub nfit_test.0 >/dev/null; ndctl clear-errors $NS >/dev/null 2>&1; t1=$(now)
  echo "ndctl $1 $(( (t1 - t0) / 1000000 ))" >> $OUT/times
  check ndctl-$1
}
i=0
while [ $i -lt ${rounds} ]; do
  b=$((16 + i * 64))
  if [ $((i % 2)) -eq 0 ]; then ours $b; theirs $((b + 32)); else theirs $((b + 32)); ours $b; fi
  i=$((i + 1))
done
`;

async function main(): Promise<void> {
  const r = await runGuest({script: SCRIPT, nfitTest: true, timeoutMs: 900_000});
  if (r.status !== 0) {
    process.stderr.write(`guest script failed (${r.status}):\n${r.stdout}\n${r.stderr}\n`);
    process.exit(1);
  }
  const times = r
    .readFile('times')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([who, block, ms]) => ({who, block, ms: Number(ms)}));
  const ours = times.filter((x) => x.who === 'ours');
  const theirs = times.filter((x) => x.who === 'ndctl');
  const pipeline = ours.map((o) => {
    const j = r.readJson<{durations: {totalMs: number}; cleared: unknown[]; verified: boolean}>(`ours-${o.block}.json`);
    if (j.cleared.length !== 1 || !j.verified) throw new Error(`ours-${o.block}: expected one verified clear`);
    return j.durations.totalMs;
  });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const o = median(ours.map((x) => x.ms));
  const t = median(theirs.map((x) => x.ms));
  const p = median(pipeline);
  const lines = [
    `scrub+clear of one injected error on nfit_test.0 (${rounds} rounds, medians, TCG guest):`,
    `  daxram clear (wall, node start-up included): ${o} ms   [${ours.map((x) => x.ms).join(', ')}]`,
    `  daxram pipeline (durations.totalMs):         ${p} ms   [${pipeline.join(', ')}]`,
    `  ndctl start-scrub; wait-scrub; clear-errors: ${t} ms   [${theirs.map((x) => x.ms).join(', ')}]`,
    `  ratio wall     ours/ndctl = ${(o / t).toFixed(2)}`,
    `  ratio pipeline ours/ndctl = ${(p / t).toFixed(2)}   (target <= 1.0)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

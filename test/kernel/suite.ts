// The kernel-guest suite: ava with ava.kernel.config.cjs once per guest kernel, all kernels at
// once, their guests in one machine-wide queue (scheduler.ts) that this process hosts. It
// prepares every kernel's lab first (nfit_test, initramfs: no test pays for a build inside its
// budget), reports what runs every few minutes, holds the run to a deadline, and ends with the
// time per kernel and the longest guests. Output lines are prefixed with the kernel; the exit
// status fails if any run failed, and in CI if any test was skipped for a reason other than
// "[not on <kernel>: why]".
//
//   node dist/test/kernel/suite.js [ava arguments: files, --match …]
//   DAXRAM_GUEST_KERNELS="6.1 6.12"   the kernels (default: all of KERNEL_SERIES)
//   DAXRAM_SUITE_DEADLINE_MIN=75      stop everything after this long, saying what ran (CI
//                                     stops at 90 minutes; the rest of .ci/run takes ~8)
//   DAXRAM_SUITE_RECORD_TIMES=1       write each file's guest time to guest-times.json
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {ensureKernelLab, KERNEL_SERIES, repoRoot, type KernelSeries} from './lab';
import {describeStatus, fileTimes, serveScheduler, schedulerStatus, writeEstimates, type GuestRecord, type SchedulerServer} from './scheduler';

const REPORT_EVERY_MS = 5 * 60_000;

interface KernelRun {
  kernel: string;
  code: number;
  seconds: number;
  summary: string;
}

function kernelsToRun(): KernelSeries[] {
  const asked = (process.env.DAXRAM_GUEST_KERNELS ?? KERNEL_SERIES.join(' ')).split(/[\s,]+/).filter(Boolean);
  for (const k of asked) {
    if (!(KERNEL_SERIES as readonly string[]).includes(k)) throw new Error(`DAXRAM_GUEST_KERNELS: unknown kernel ${k} (known: ${KERNEL_SERIES.join(', ')})`);
  }
  return asked as KernelSeries[];
}

function runKernel(kernel: string, children: Set<ChildProcess>): Promise<KernelRun> {
  const repo = repoRoot();
  const ava = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [ava, '--config', 'ava.kernel.config.cjs', ...process.argv.slice(2)], {
      cwd: repo,
      env: {...process.env, DAXRAM_GUEST_KERNEL: kernel},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let summary = '';
    let notApplicable = 0;
    let otherSkips = 0;
    const pipe = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (/^\s*- \[skip\]/.test(line)) {
            if (/\[not on [^\]:]+:/.test(line)) notApplicable += 1;
            else otherSkips += 1;
          } else if (/tests? (passed|failed)|known failure|todo|uncaught|unhandled/i.test(line)) summary += `${line.trim()}; `;
          out.write(`[${kernel}] ${line}\n`);
        }
      });
      stream.on('end', () => buf && out.write(`[${kernel}] ${buf}\n`));
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('close', (code, signal) => {
      children.delete(child);
      if (notApplicable) summary += `${notApplicable} not applicable to ${kernel} (listed as [not on ${kernel}]); `;
      if (otherSkips) summary += `${otherSkips} SKIPPED without running; `;
      const failed = code !== 0 || (otherSkips > 0 && Boolean(process.env.CI));
      resolve({kernel, code: failed ? code || 1 : 0, seconds: (Date.now() - t0) / 1000, summary: summary + (signal ? `killed by ${signal}; ` : '')});
    });
  });
}

function report(done: GuestRecord[], kernels: string[]): string {
  const lines: string[] = [];
  for (const k of kernels) {
    const mine = done.filter((d) => d.kernel === k);
    const guestS = mine.reduce((s, d) => s + d.heldMs, 0) / 1000;
    lines.push(`  ${k}: ${mine.length} guests, ${guestS.toFixed(0)} s of guest time`);
  }
  const longest = [...done].sort((a, b) => b.heldMs - a.heldMs).slice(0, 5);
  lines.push('  longest guests:');
  for (const d of longest) lines.push(`    [${d.kernel}] ${d.label}: ${(d.heldMs / 1000).toFixed(0)} s (waited ${(d.waitedMs / 1000).toFixed(0)} s for a slot)${d.outcome === 'abandoned' ? ', abandoned by its test' : ''}`);
  const waited = [...done].sort((a, b) => b.waitedMs - a.waitedMs)[0];
  if (waited) lines.push(`  longest wait for a slot: [${waited.kernel}] ${waited.label}, ${(waited.waitedMs / 1000).toFixed(0)} s`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const kernels = kernelsToRun();
  const deadlineMin = Number(process.env.DAXRAM_SUITE_DEADLINE_MIN) || 75;

  // Every kernel's lab before any test: a build inside a test would eat its guest's budget.
  for (const k of kernels) {
    const lab = await ensureKernelLab(k);
    console.log(`kernel lab ${k}: ${lab.kernelVersion}`);
  }

  // Host the queue for the whole run, or join the one already serving this machine.
  let server: SchedulerServer | undefined;
  try {
    server = await serveScheduler({log: (l) => console.log(`[scheduler] ${l}`)});
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    console.log('[scheduler] another coordinator serves this machine: this run queues behind its guests');
  }
  const status = async () => (server ? server.queue.status() : await schedulerStatus());

  const children = new Set<ChildProcess>();
  const progress = setInterval(() => {
    void status().then((s) => s && console.log(`\n[scheduler] after ${((Date.now() - t0) / 60_000).toFixed(0)} min:\n${describeStatus(s)}\n`));
  }, REPORT_EVERY_MS);
  let deadlineHit = false;
  const deadline = setTimeout(() => {
    deadlineHit = true;
    void status().then((s) => {
      console.log(`\n!!! kernel suite deadline (${deadlineMin} min) reached; what was running:\n${s ? describeStatus(s) : '(no scheduler)'}`);
      for (const c of children) c.kill('SIGTERM');
      setTimeout(() => {
        for (const c of children) c.kill('SIGKILL');
      }, 10_000).unref();
    });
  }, deadlineMin * 60_000);

  const results = await Promise.all(kernels.map((k) => runKernel(k, children)));
  clearInterval(progress);
  clearTimeout(deadline);
  const total = (Date.now() - t0) / 1000;
  const done = server?.queue.done ?? [];
  console.log(`\nkernel suite, ${kernels.join(' + ')} at once in one queue of ${server?.queue.slots ?? '?'} slots, ${total.toFixed(0)} s in all:`);
  for (const r of results) console.log(`  ${r.kernel}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${r.seconds.toFixed(0)} s — ${r.summary}`);
  if (done.length) {
    console.log(report(done, kernels));
    // Every guest of the run, for whoever tunes the suite (test/kernel/.cache is not committed).
    const file = path.join(repoRoot(), 'test', 'kernel', '.cache', 'last-run.json');
    fs.mkdirSync(path.dirname(file), {recursive: true});
    fs.writeFileSync(file, JSON.stringify({kernels, seconds: total, results, guests: done}, null, 2) + '\n');
    console.log(`  every guest of this run: ${path.relative(repoRoot(), file)}`);
  }
  if (deadlineHit) console.log(`  FAILED: the run hit its ${deadlineMin}-minute deadline`);
  if (process.env.DAXRAM_SUITE_RECORD_TIMES === '1' && done.length && results.every((r) => r.code === 0)) {
    writeEstimates(fileTimes(done));
    console.log('  guest time per file recorded in test/kernel/guest-times.json');
  }
  await server?.close();
  process.exitCode = !deadlineHit && results.every((r) => r.code === 0) ? 0 : 1;
}

main().catch((e: unknown) => {
  console.error(`kernel suite: ${e instanceof Error ? e.stack : String(e)}`);
  process.exitCode = 1;
});

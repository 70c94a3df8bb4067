#!/usr/bin/env node
// The kernel-guest suite, once per guest kernel: ava with ava.kernel.config.cjs and
// DAXRAM_GUEST_KERNEL set. Both kernels' runs share the machine-wide guest slots
// (harness.ts), so they run side by side and keep both CPUs busy; DAXRAM_KERNEL_SUITE_SERIAL=1
// runs them one after the other (for per-kernel timings). Extra arguments go to ava (files,
// --match). Output lines are prefixed with the kernel; the exit status fails if any run failed.
'use strict';
const {spawn} = require('node:child_process');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
const kernels = (process.env.DAXRAM_GUEST_KERNELS || '6.1 6.12').split(/[\s,]+/).filter(Boolean);
const serial = process.env.DAXRAM_KERNEL_SUITE_SERIAL === '1';
const ava = path.join(repo, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');

function runOne(kernel) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [ava, '--config', 'ava.kernel.config.cjs', ...process.argv.slice(2)], {
      cwd: repo,
      env: {...process.env, DAXRAM_GUEST_KERNEL: kernel},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let summary = '';
    // Tests that do not apply to this kernel are registered as skips titled "[not on <kernel>: why]"
    // (harness.ts kernelTest). Any other skip hides a test that did not run: in CI that fails.
    let notApplicable = 0;
    let otherSkips = 0;
    const pipe = (stream, out) => {
      let buf = '';
      stream.on('data', (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (/^\s*- \[skip\]/.test(line)) {
            if (/\[not on [^\]:]+:/.test(line)) notApplicable += 1;
            else otherSkips += 1;
          } else if (/tests? (passed|failed)|known failure|todo/.test(line)) summary += line.trim() + '; ';
          out.write(`[${kernel}] ${line}\n`);
        }
      });
      stream.on('end', () => buf && out.write(`[${kernel}] ${buf}\n`));
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('close', (code) => {
      if (notApplicable) summary += `${notApplicable} not applicable to ${kernel} (listed above as [not on ${kernel}]); `;
      if (otherSkips) summary += `${otherSkips} SKIPPED without running; `;
      const failed = code !== 0 || (otherSkips > 0 && Boolean(process.env.CI));
      resolve({kernel, code: failed ? code || 1 : 0, seconds: (Date.now() - t0) / 1000, summary});
    });
  });
}

(async () => {
  const t0 = Date.now();
  const results = [];
  if (serial) for (const k of kernels) results.push(await runOne(k));
  else results.push(...(await Promise.all(kernels.map(runOne))));
  const total = (Date.now() - t0) / 1000;
  console.log(`\nkernel suite (${serial ? 'one kernel after the other' : 'kernels side by side'}), ${total.toFixed(0)} s in all:`);
  for (const r of results) console.log(`  ${r.kernel}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${r.seconds.toFixed(0)} s — ${r.summary}`);
  process.exitCode = results.every((r) => r.code === 0) ? 0 : 1;
})();

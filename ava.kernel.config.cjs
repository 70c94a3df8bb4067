// Kernel-guest suite: every test boots a Debian guest kernel (DAXRAM_GUEST_KERNEL; the suite
// runner, test/kernel/suite.ts, runs this config once per kernel) under QEMU (TCG) and asserts
// on what that kernel shows.
//
// Every file starts at once: their guests wait in the machine-wide queue (test/kernel/
// scheduler.ts), which decides what runs, longest first across all kernels. So ava's
// concurrency is not what limits guests, and its timeout (no result for this long) is only a
// stall guard far beyond any queue wait: each guest has its own budget counted from its QEMU's
// start (runGuest's timeoutMs), and the suite runner has the run's deadline.
// Worker processes, not threads: a worker killed by a timeout takes its QEMU with it (the
// kernel's parent-death signal) and its children are reaped by init, never left as zombies.
module.exports = {
  files: ['test/kernel/**/*.test.ts'],
  typescript: {
    rewritePaths: {'daemon/': 'dist/daemon/', 'test/': 'dist/test/', 'bench/': 'dist/bench/'},
    compile: false,
  },
  concurrency: 64,
  workerThreads: false,
  nodeArguments: ['--enable-source-maps'],
  timeout: '80m',
  verbose: true,
};

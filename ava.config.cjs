// Unit and fixture suite. The kernel-guest suite has its own config (ava.kernel.config.cjs).
module.exports = {
  files: ['test/**/*.test.ts', '!test/kernel/**'],
  typescript: {
    rewritePaths: {'daemon/': 'dist/daemon/', 'test/': 'dist/test/', 'bench/': 'dist/bench/'},
    compile: false,
  },
  // A process per file: some tests set process-wide state (umask, signals) that worker threads
  // may not touch.
  workerThreads: false,
  // ava's timeout is a stall guard (no test result for this long), not a timing assertion;
  // the 6 TiB fixture test builds 49k directories synchronously.
  timeout: '10m',
};

// Kernel-guest suite: every test boots a Debian guest kernel (6.1 or 6.12, DAXRAM_GUEST_KERNEL;
// test/kernel/suite.cjs runs the suite once per kernel) under QEMU (TCG) and asserts on
// what that kernel shows. Guests are CPU-heavy, so at most two boot at once on 2 cores.
module.exports = {
  files: ['test/kernel/**/*.test.ts'],
  typescript: {
    rewritePaths: {'daemon/': 'dist/daemon/', 'test/': 'dist/test/', 'bench/': 'dist/bench/'},
    compile: 'tsc',
  },
  concurrency: 2,
  timeout: '12m',
  verbose: true,
};

// Unit and fixture suite. The kernel-guest suite has its own config (ava.kernel.config.cjs).
module.exports = {
  files: ['test/**/*.test.ts', '!test/kernel/**'],
  typescript: {
    rewritePaths: {'daemon/': 'dist/daemon/', 'test/': 'dist/test/', 'bench/': 'dist/bench/'},
    compile: 'tsc',
  },
  timeout: '2m',
};

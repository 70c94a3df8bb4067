// How bin/daxram, bin/daxramd and the package's /usr/bin scripts start a program: load its
// bundle (dist/bundle/NAME.js, one file, no module resolution) with V8's code cache. Node 20 has
// no compile cache of its own (module.enableCompileCache is 22.1+), and under a slow CPU (a TCG
// guest, a small VM) compiling the bundle again on every call is most of a CLI call's start-up.
//
// The cache is an optimisation only: V8 checks it against the source, its own version and flags
// and rejects a mismatch (then the bundle compiles as usual and a fresh cache is written); any
// error reading or writing it is ignored. It is written atomically into a directory only root
// (or the owner) can write, like every other file daxram writes: a cache is code.

import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import {ensureDir, writeAtomic} from './util/atomic';
import {isGuardCall} from './daxramd/guard-args';

export interface Program {
  main(argv: string[]): Promise<void> | void;
}

/**
 * Load `name`'s bundle from `bundleDir` through the code cache in `cacheDir`, and run its main().
 * daxramd's boot-guard verbs load the guard's own bundle (daxramd-guard.js, daxramd/guard.ts):
 * the guard runs before udev's coldplug on every boot and needs a sysfs write, not the daemon.
 */
export function launch(program: 'daxram' | 'daxramd', bundleDir: string, cacheDir: string, argv: string[]): void {
  const name = program === 'daxramd' && isGuardCall(argv) ? 'daxramd-guard' : program;
  const file = path.join(bundleDir, `${name}.js`);
  const source = fs.readFileSync(file, 'utf8');
  // One cache per runtime: a checkout is run by the host's node and by a guest's.
  const cacheFile = path.join(cacheDir, `${name}-${process.version}-${process.arch}.v8cache`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    /* none yet */
  }
  const script = new vm.Script(Module.wrap(source), {filename: file, cachedData});
  const mod = {exports: {} as Program};
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  wrapper(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  if (!cachedData || script.cachedDataRejected) {
    // At exit, however the program ends (yargs exits after --help): the cache then holds the
    // functions this run compiled, not only the top level. Synchronous, as exit handlers are.
    process.once('exit', () => {
      try {
        // Not where it cannot land (the guard's read-only /var, a read-only tree): making the
        // cache costs a serialisation of everything compiled.
        ensureDir(cacheDir);
        fs.accessSync(cacheDir, fs.constants.W_OK);
        writeAtomic(cacheFile, script.createCachedData());
      } catch {
        /* not root, a read-only tree: compile next time */
      }
    });
  }
  void mod.exports.main(argv);
}

/** As a script (the package's /usr/bin wrappers): launch.js [--cache DIR] daxram|daxramd ARGS… */
if (require.main === module) {
  const args = process.argv.slice(2);
  let cacheDir = path.join(__dirname, '.cache');
  if (args[0] === '--cache' && args[1]) {
    cacheDir = args[1];
    args.splice(0, 2);
  }
  const name = args.shift();
  if (name !== 'daxram' && name !== 'daxramd') {
    process.stderr.write('usage: launch.js [--cache DIR] daxram|daxramd ARGS...\n');
    process.exit(2);
  }
  launch(name, __dirname, cacheDir, args);
}

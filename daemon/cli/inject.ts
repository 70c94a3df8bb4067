// What a test entry point (test/entry/daxram.ts) hands the CLI through main(): engine Context
// pieces to use instead of the real ones. Kept in its own import-free module so `daxram list`
// still loads no engine. bin/daxram never sets it.

import type {ContextInjection} from '../host/context';

let current: ContextInjection = {};

export function setInjection(i: ContextInjection): void {
  current = i;
}

export function injection(): ContextInjection {
  return current;
}

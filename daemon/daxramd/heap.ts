// After a burst of work (a start-up reconcile that adopts 6 TiB reads and plans 49,152 memory
// blocks) V8 keeps the heap it grew to: 80 MiB committed for 8 MiB live, for minutes, because a
// daemon asleep in epoll never triggers another collection. A full collection once the burst is
// over frees the old generation; the young generation (grown to its 32 MiB maximum by the burst)
// shrinks only in a collection that sees a low allocation rate, so a second one follows when
// the daemon has been quiet a while. Each costs a few milliseconds on an 8 MiB live heap. After
// the second, glibc's arenas are trimmed: the burst's C allocations (directory listings of tens
// of thousands of names, file reads) stay in them otherwise, 3-4 MiB of the idle RSS.

import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import {loadDaemonNative} from './notify';

const QUIET_MS = 10_000;

let collect: (() => void) | undefined;
let later: NodeJS.Timeout | undefined;

/** A full collection; never throws (a reconcile chain follows it, and only memory is at stake). */
function gc(): void {
  try {
    if (!collect) {
      // No --expose-gc on the unit's command line: expose V8's gc once, here.
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
    }
    collect();
  } catch {
    // Only memory is at stake.
  }
}

/** Give the heap a burst grew back to the system: a collection now, another once quiet. */
export function releaseHeap(): void {
  gc();
  if (later) clearTimeout(later);
  later = setTimeout(() => {
    later = undefined;
    gc();
    try {
      loadDaemonNative().mallocTrim();
    } catch {
      // Only memory is at stake (an addon without it is refused at start by its ABI version).
    }
  }, QUIET_MS).unref();
}

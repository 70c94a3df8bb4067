// Test entry points: the real CLI and daemon with engine Context pieces swapped, chosen by
// DAXRAM_TEST_* variables that only these entry points read (the product reads none).
//   DAXRAM_TEST_KILL_AFTER=<mark>   SIGKILL this process right after the step with that mark
//   DAXRAM_TEST_RESET_AFTER=<mark>  reset the machine (sysrq b: no sync, no shutdown) right after it
//   DAXRAM_TEST_POISON=0xA:LEN[,…]  the scrub's residual poison (QEMU's NVDIMM has no ARS)
//   DAXRAM_TEST_POISON=none         no residual poison, no scrub
//   DAXRAM_TEST_SER_P=1|0           MCG_CAP.SER_P as if read (fixture roots have no MSR)

import * as fs from 'node:fs';
import type {ContextInjection} from '../../daemon/host/context';
import type {KillPoint} from '../../daemon/engine/plan';

export function injectionFromEnv(env: NodeJS.ProcessEnv = process.env): ContextInjection {
  const inject: ContextInjection = {};
  const kill = env.DAXRAM_TEST_KILL_AFTER;
  if (kill) {
    inject.afterStep = (mark: KillPoint) => {
      if (mark === kill) process.kill(process.pid, 'SIGKILL');
    };
  }
  const reset = env.DAXRAM_TEST_RESET_AFTER;
  if (reset) {
    const before = inject.afterStep;
    inject.afterStep = (mark: KillPoint) => {
      before?.(mark);
      if (mark === reset) fs.writeFileSync('/proc/sysrq-trigger', 'b');
    };
  }
  const poison = env.DAXRAM_TEST_POISON;
  if (poison) {
    const remaining =
      poison === 'none'
        ? []
        : poison.split(',').map((x) => {
            const [a, l] = x.split(':');
            return {start: BigInt(a), size: BigInt(l ?? '4096')};
          });
    inject.poison = async () => ({scrubSupported: false, found: remaining, cleared: [], remaining, source: 'DAXRAM_TEST_POISON (test entry point)'});
  }
  const serP = env.DAXRAM_TEST_SER_P;
  if (serP) inject.mce = async () => ({serP: serP === '1', source: 'DAXRAM_TEST_SER_P (test entry point)'});
  return inject;
}

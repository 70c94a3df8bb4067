// Guest-side helper for test/kernel/scrub.test.ts and bench/scrub.ts (run inside the guest as
// `node dist/test/kernel/scrub-driver.js CMD …`, prints JSON). Uses the library directly where
// the CLI's start-up time (node over 9p under TCG: tens of seconds) would let a kernel scrub
// finish before we look:
//   inject DAX OFFSET LENGTH   NFIT ARS error inject through our ND_CMD_CALL (no notify), at
//                              the dax device's range start + OFFSET (bytes)
//   busy-clear DAX             write 1 to the bus's nfit/scrub (kernel scrub starts), then
//                              run the scrub-and-clear pipeline at once: it must meet EBUSY
//   mce                        MCG_CAP from /dev/cpu/0/msr

import {loadNative} from '../../daemon/native';
import {NdBusHandle} from '../../daemon/ndctl';
import {readMcgCap} from '../../daemon/mce';
import {Sysfs} from '../../daemon/sysfs';
import {scrubDevice, targetByName} from '../../daemon/scrub/pipeline';
import {toJson} from '../../daemon/cli/output';

async function main(argv: string[]): Promise<unknown> {
  const native = loadNative();
  const sysfs = new Sysfs('/');
  const [cmd, dax, ...rest] = argv;
  if (cmd === 'mce') return readMcgCap(native);
  const target = targetByName(sysfs, dax);
  if (!target.bus) throw new Error(`${dax} has no bus`);
  if (cmd === 'inject') {
    const address = target.ranges[0].start + BigInt(rest[0]);
    const length = BigInt(rest[1]);
    const h = NdBusHandle.open(native, target.bus.dev, {device: dax});
    try {
      const status = await h.injectError(address, length, false);
      return {address, length, status};
    } finally {
      h.close();
    }
  }
  if (cmd === 'busy-clear') {
    const busDir = `/sys/bus/nd/devices/${target.bus.name}`;
    sysfs.writeAttr(busDir, target.bus.name, 'nfit/scrub', '1');
    const attrBefore = sysfs.read(`${busDir}/nfit/scrub`);
    const res = await scrubDevice(native, sysfs, target, {clear: true, timeoutMs: 120_000});
    return {attrBefore, attrAfter: sysfs.read(`${busDir}/nfit/scrub`), result: res};
  }
  throw new Error(`unknown command ${cmd}`);
}

main(process.argv.slice(2)).then(
  (r) => process.stdout.write(toJson(r) + '\n'),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);

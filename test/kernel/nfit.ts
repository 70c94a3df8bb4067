// Builds the kernel's own NVDIMM emulator, nfit_test (tools/testing/nvdimm), against the
// guest kernel's headers from Debian's linux-source of the same series (docs/kernel-lab.md).
// The newest kernel's headers and compiler are Debian 13's: it is built chrooted in that root.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {run} from './util';
import type {GuestKernel} from './lab';

/**
 * Guest shell (needs $OUT): one devdax namespace on nfit_test.0 with fresh labels; sets NS, DAX,
 * REAL (the device's sysfs path), REG and BUS. Shared by the scrub test and the scrub bench.
 */
export const NFIT_DEVDAX_NAMESPACE = String.raw`
ndctl disable-region -b nfit_test.0 all >/dev/null
ndctl init-labels -f -b nfit_test.0 all >/dev/null
ndctl enable-region -b nfit_test.0 all >/dev/null
ndctl create-namespace -b nfit_test.0 -t pmem -m devdax -a 4K > $OUT/ns.json
NS=$(grep -o '"dev":"namespace[0-9.]*"' $OUT/ns.json | cut -d'"' -f4)
DAX=$(grep -o '"chardev":"dax[0-9.]*"' $OUT/ns.json | cut -d'"' -f4)
REAL=$(readlink -f /sys/bus/dax/devices/$DAX)
REG=$(basename $(dirname $(dirname $REAL)))
BUS=$(basename $(dirname $(dirname $(dirname $REAL))))
`;

/**
 * insmod order in the guest. `kmem` is not built here: it is the stock module, loaded
 * with modprobe between dax_pmem and nfit_test (see the note).
 */
export const NFIT_INSMOD_ORDER = [
  'test/nfit_test_iomap', 'libnvdimm', 'nd_btt', 'nd_pmem', 'nfit', 'device_dax', 'dax_pmem', 'test/nfit_test',
] as const;


/** A path of `k`'s build root, as the host sees it. */
export function onHost(k: GuestKernel, p: string): string {
  return k.buildRoot ? path.join(k.buildRoot, p) : p;
}

/** Seconds the last build took in this process (undefined when the cache was used). */
export let lastNfitBuildSeconds: number | undefined;

/**
 * Builds the nfit_test chain for kernel `kver` into `outDir` (unless already built for
 * this kernel and source), and returns the absolute .ko paths in insmod order,
 * nfit_test.ko last. The caller holds the lab lock.
 */
export async function buildNfitTest(k: GuestKernel, outDir: string): Promise<string[]> {
  const kver = k.kver;
  const top = path.basename(k.sourceTarball).replace(/\.tar\.xz$/, '');
  const want = JSON.stringify({
    kver,
    source: fs.statSync(onHost(k, k.sourceTarball)).mtimeMs,
    symvers: fs.statSync(onHost(k, path.join(k.headers, 'Module.symvers'))).mtimeMs,
    order: NFIT_INSMOD_ORDER,
  });
  const stamp = path.join(outDir, 'stamp');
  const kos = NFIT_INSMOD_ORDER.map((m) => path.join(outDir, `${path.basename(m)}.ko`));
  let have = '';
  try {
    have = fs.readFileSync(stamp, 'utf8');
  } catch { /* not built */ }
  if (have === want && kos.every((x) => fs.existsSync(x))) return kos;

  const started = Date.now();
  fs.rmSync(outDir, {recursive: true, force: true});
  fs.mkdirSync(outDir, {recursive: true});
  // Inside the build root when there is one, so that its make and compiler see the tree.
  const work = fs.mkdtempSync(k.buildRoot ? path.join(k.buildRoot, 'var', 'tmp', 'nfit-build-') : path.join(path.dirname(outDir), 'nfit-build-'));
  const inRoot = (p: string) => (k.buildRoot ? `/${path.relative(k.buildRoot, p)}` : p);
  // objtool reads /proc: the build root gets its own, in a private mount namespace.
  const chroot = (argv: string[]) => (k.buildRoot
    ? ['/usr/bin/unshare', '--fork', '--pid', `--mount-proc=${path.join(k.buildRoot, 'proc')}`, '/usr/sbin/chroot', k.buildRoot,
      '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL=C', ...argv]
    : argv);
  try {
    await run([
      'tar', '-xJf', onHost(k, k.sourceTarball), '-C', work, '--wildcards',
      `${top}/tools/testing/nvdimm`, `${top}/drivers/nvdimm`,
      `${top}/drivers/acpi/nfit`, `${top}/drivers/dax`,
    ]);
    const src = inRoot(path.join(work, top));
    const m = path.join(src, 'tools', 'testing', 'nvdimm');
    const log = await run(chroot([
      'make', '-C', k.headers, `M=${m}`, `KCFLAGS=-I${src}/drivers/nvdimm -I${src}/drivers/acpi/nfit`,
      `-j${Math.max(1, os.cpus().length)}`, 'modules',
    ]));
    fs.writeFileSync(path.join(outDir, 'build.log'), log);
    for (const mod of NFIT_INSMOD_ORDER) {
      const built = onHost(k, path.join(m, `${mod}.ko`));
      if (!fs.existsSync(built)) throw new Error(`nfit_test build did not produce ${mod}.ko`);
      fs.copyFileSync(built, path.join(outDir, `${path.basename(mod)}.ko`));
    }
    const vermagic = (await run(['modinfo', '-F', 'vermagic', kos[kos.length - 1]])).trim();
    if (!vermagic.startsWith(`${kver} `)) {
      throw new Error(`nfit_test.ko vermagic "${vermagic}" does not match the guest kernel ${kver}`);
    }
    fs.writeFileSync(stamp, want);
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
  lastNfitBuildSeconds = (Date.now() - started) / 1000;
  return kos;
}

// What daxramd's kernel-guest tests and the demo put into a systemd guest: the Debian package
// built from this checkout (dist/deb/, npm run deb), installed with apt on the Debian 13 root
// before systemd starts, as a user installs it (its postinst enables the daemon, the boot
// guard and the target), and a config naming the namespace created in a first boot.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {GuestRoot} from './lab';
import type {GuestControl} from './harness';

const REPO = path.resolve(__dirname, '..', '..', '..');
const DEB_DIR = path.join(REPO, 'dist', 'deb');

/** The package the last build made (dist/deb/daxram_<version>_<arch>.deb). */
export function builtDeb(): string {
  let names: string[] = [];
  try {
    names = fs.readdirSync(DEB_DIR).filter((n) => /^daxram_[^_]+_[a-z0-9]+\.deb$/.test(n));
  } catch { /* not built */ }
  if (names.length !== 1) throw new Error(`expected one daxram_<version>_<arch>.deb in ${DEB_DIR}, found ${names.length}: npm run deb builds it (npm run test:kernel does)`);
  return path.join(DEB_DIR, names[0]);
}


/** The root systemd guests with the package boot: the stable release people install on. */
export const PACKAGE_ROOT: GuestRoot = 'trixie';

/** The preScript lines that install the package with apt (and fail the boot loudly when they cannot). */
export function installDeb(): string {
  const deb = builtDeb();
  return `apt-get install -y ${deb} > /harness/apt.log 2>&1 || { echo "apt-get install ${path.basename(deb)} failed: $(tail -5 /harness/apt.log)" > /harness/setup-failed; exit 1; }`;
}

/**
 * The package, node_exporter's textfile directory and a config, before systemd starts: `conf`,
 * or the default one naming the QEMU NVDIMM namespace (by uuid, else by kernel name). A test whose
 * boots destroy that namespace sets a short `deviceTimeoutSec`, or each start of daxramd waits
 * the default 30 s for it before READY.
 */
export function daemonInstall(uuid: string | undefined, o: {conf?: string; deviceTimeoutSec?: number} = {}): {preScript: string; root: GuestRoot} {
  const text =
    o.conf ??
    `# test config: the QEMU NVDIMM namespace as RAM on node 1
[daemon]
log-level = info
${o.deviceTimeoutSec === undefined ? '' : `device-timeout = ${o.deviceTimeoutSec}
`}
[device nvdimm-node1]
${uuid ? `uuid = ${uuid}   # from ndctl create-namespace in the first boot` : 'dax = dax0.0   # by kernel name (config check warns: uuid is the stable match)'}
mode = ram
zone = movable
node = 1
# gates: the defaults (poison = refuse, mce-recovery = refuse, security = warn)
`;
  return {
    root: PACKAGE_ROOT,
    preScript: [
      installDeb(),
      // node_exporter's textfile directory, where daxramd writes daxram.prom when it exists.
      `mkdir -p /var/lib/prometheus/node-exporter`,
      `cat > /etc/daxram/daxram.conf <<'EOF'\n${text}EOF`,
    ].join('\n'),
  };
}

export const CREATE_NS = `ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $HARNESS_OUT/ns.json`;

/**
 * Shell: `dimm_hotadd BEFORE AFTER` asks the host to hot-add a DIMM (ready-dimm in the results
 * share; the test's host hook answers with dimm-added), waits for its new blocks to leave
 * "offline" (listing the blocks into AFTER, against BEFORE), then prints one line per new block:
 * "memoryN state valid_zones".
 */
export const DIMM_HOTADD = String.raw`
dimm_hotadd() {
  touch $HARNESS_OUT/ready-dimm
  for i in $(seq 1 240); do [ -e $HARNESS_OUT/dimm-added ] && break; sleep 0.5; done
  for i in $(seq 1 240); do
    ls /sys/devices/system/memory | grep '^memory' | sort > "$2"
    NEW=$(comm -13 "$1" "$2")
    [ -n "$NEW" ] && ! (for b in $NEW; do cat /sys/devices/system/memory/$b/state; done | grep -q offline) && break
    sleep 0.5
  done
  for b in $(comm -13 "$1" "$2"); do echo "$b $(cat /sys/devices/system/memory/$b/state) $(cat /sys/devices/system/memory/$b/valid_zones)"; done
}
`;

/** The host's half of dimm_hotadd: when the guest asks, a 256 MiB pc-dimm on node 0 over QMP. */
export async function hotAddDimm(g: GuestControl): Promise<void> {
  await g.waitForFile('ready-dimm');
  await g.qmp('object-add', {'qom-type': 'memory-backend-ram', id: 'hp1', size: 256 * 1024 * 1024});
  await g.qmp('device_add', {driver: 'pc-dimm', id: 'dimm1', memdev: 'hp1', node: 0});
  g.signal('dimm-added');
}

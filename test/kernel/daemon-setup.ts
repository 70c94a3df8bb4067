// What daxramd's kernel-guest tests and the demo put into a systemd guest: the Debian package
// built from this checkout (dist/deb/daxram.deb, npm run deb), installed with dpkg -i before
// systemd starts, so the guest gets what a user gets (its postinst enables the daemon, the
// boot guard and the target), and a config naming the namespace created in a first boot.

import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..', '..');
export const DEB = path.join(REPO, 'dist', 'deb', 'daxram.deb');

/** Checkouts under /tmp or /home (CI clones) are hidden from the hardened unit by PrivateTmp/ProtectHome. */
export const CHECKOUT_HIDDEN = /^\/(tmp|home|root)\//.test(REPO + '/');

/** The preScript lines that install the package (and fail the boot loudly when they cannot). */
export function installDeb(): string {
  if (!fs.existsSync(DEB)) throw new Error(`${DEB} is missing: npm run deb builds it (npm run test:kernel does)`);
  return `dpkg -i ${DEB} > /harness/dpkg.log 2>&1 || { echo "dpkg -i failed: $(tail -5 /harness/dpkg.log)" > /harness/setup-failed; exit 1; }`;
}

/** The package, node_exporter's textfile directory and a config, before systemd starts. */
export function daemonInstall(uuid: string | undefined, conf?: string): {preScript: string} {
  const text =
    conf ??
    `# test config: the QEMU NVDIMM namespace as RAM on node 1
[daemon]
log-level = info

[device nvdimm-node1]
${uuid ? `uuid = ${uuid}   # from ndctl create-namespace in the first boot` : 'dax = dax0.0   # by kernel name (config check warns: uuid is the stable match)'}
mode = ram
zone = movable
node = 1
# gates: the defaults (poison = refuse, mce-recovery = refuse, security = warn)
`;
  return {
    preScript: [
      installDeb(),
      // node_exporter's textfile directory, where daxramd writes daxram.prom when it exists.
      `mkdir -p /var/lib/prometheus/node-exporter`,
      `cat > /etc/daxram/daxram.conf <<'EOF'\n${text}EOF`,
    ].join('\n'),
  };
}

export const CREATE_NS = `ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $HARNESS_OUT/ns.json`;

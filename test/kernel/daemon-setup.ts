// What daxramd's kernel-guest test and the demo install into a systemd guest: the product's
// own unit, target, modules-load.d file and udev rule, /usr/bin/daxramd pointing at this checkout, and a config
// naming the namespace created in a first boot.

import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..', '..');

/** Files and config every systemd boot installs (the product's own unit and rule). */
export function daemonInstall(uuid: string | undefined): {install: {src: string; dest: string}[]; enable: string[]; preScript: string} {
  const conf = `# test config: the QEMU NVDIMM namespace as RAM on node 1
[daemon]
log-level = info

[device nvdimm-node1]
${uuid ? `uuid = ${uuid}   # from ndctl create-namespace in the first boot` : 'dax = dax0.0   # by kernel name (config check warns: uuid is the stable match)'}
mode = ram
zone = movable
node = 1
# gates: the defaults (poison = refuse, mce-recovery = refuse, security = warn)
`;
  // Checkouts under /tmp or /home (CI clones) would be hidden by PrivateTmp/ProtectHome.
  const hidden = /^\/(tmp|home|root)\//.test(REPO + '/');
  return {
    install: [
      {src: 'systemd/daxramd.service', dest: '/etc/systemd/system/'},
      {src: 'systemd/daxram-online.target', dest: '/etc/systemd/system/'},
      {src: 'udev/90-daxram.rules', dest: '/etc/udev/rules.d/'},
      {src: 'systemd/daxram-modules.conf', dest: '/usr/lib/modules-load.d/daxram.conf'},
    ],
    enable: ['daxramd.service', 'daxram-online.target'],
    preScript: [
      `ln -sf ${REPO}/bin/daxramd /usr/bin/daxramd`,
      `mkdir -p /etc/daxram`,
      // node_exporter's textfile directory, where daxramd writes daxram.prom when it exists.
      `mkdir -p /var/lib/prometheus/node-exporter`,
      `cat > /etc/daxram/daxram.conf <<'EOF'\n${conf}EOF`,
      hidden ? `mkdir -p /etc/systemd/system/daxramd.service.d && printf '[Service]\\nPrivateTmp=no\\nProtectHome=no\\n' > /etc/systemd/system/daxramd.service.d/checkout.conf` : '',
    ].join('\n'),
  };
}

export const CREATE_NS = `ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $HARNESS_OUT/ns.json`;


// One device, one key, whoever asks (issue 19): for each kind of device a rule, a reservation, an
// operator record and daxramd's desired state resolve it to the same key (model/identity.ts), on
// a fixture of that kind. A CXL region's key (its memdevs by serial, kept across a renumbering
// reboot) is in identity.test.ts.

import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Sysfs} from '../daemon/sysfs';
import {scanPlatform} from '../daemon/model/scan';
import {deviceKey, deviceUuids} from '../daemon/model/identity';
import {parseConfig, ruleFor} from '../daemon/config/config';
import {addReservations} from '../daemon/config/reservations';
import {recordDevices} from '../daemon/config/operator';
import {StateStore} from '../daemon/config/state';
import {desiredFor} from '../daemon/daxramd/desired';
import {makePolicy} from '../daemon/policy/settings';
import {reservedGate} from '../daemon/policy/gates';
import type {DaxDevice} from '../daemon/model/types';
import {buildFixture, GiB, type FixtureSpec} from './helpers/fixture';
import {qemuSpec} from './helpers/engine-context';

interface Kind {
  name: string;
  spec: FixtureSpec;
  key: RegExp;
  /** The config's words for the device: how an operator names this kind. */
  match: (dev: DaxDevice) => string[];
}

const KINDS: Kind[] = [
  {name: 'NVDIMM namespace (by its label uuid, or its info block uuid)', spec: qemuSpec(), key: /^uuid:[0-9a-f-]{36}$/, match: (d) => [`uuid = ${d.uuids.namespace}`, `uuid = ${d.uuids.infoBlock}`]},
  {name: 'soft-reserved hmem range (by where it starts)', spec: {nodes: [0, 1], hmem: [{start: 16n * GiB, size: GiB, targetNode: 1}]}, key: /^res:\d+:0x400000000$/, match: (d) => [`resource = 0x${d.ranges[0].start.toString(16)}`, `region = ${d.daxRegion}\nresource = 0x${d.ranges[0].start.toString(16)}`]},
  {
    name: 'e820 pmem (memmap=nn!ss, label-less: by where it starts)',
    spec: {nodes: [0, 1], buses: [{provider: 'e820', regions: [{start: 8n * GiB, size: GiB, labelless: true, namespaces: [{mode: 'devdax', size: GiB, labelless: true, dax: {}}]}]}]},
    key: /^res:\d+:0x/,
    match: (d) => [`resource = 0x${d.ranges[0].start.toString(16)}`],
  },
];

for (const kind of KINDS) {
  test(`${kind.name}: rule, reservation, operator record and desired state name one key`, (t) => {
    const fx = buildFixture(kind.spec);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-kinds-'));
    t.teardown(() => {
      fx.cleanup();
      fs.rmSync(state, {recursive: true, force: true});
    });
    const sysfs = new Sysfs(fx.root);
    const devices = scanPlatform(sysfs).devices;
    t.is(devices.length, 1);
    const dev = devices[0];
    const key = deviceKey(dev);
    t.regex(key, kind.key);
    for (const words of kind.match(dev)) {
      // A rule that names it.
      const cfg = parseConfig([{file: 'daxram.conf', text: `[device it]\n${words}\nmode = ram\n`}]);
      t.is(ruleFor(cfg, dev)?.label, 'it', words);
      const wanted = desiredFor(cfg, dev, []);
      t.is(wanted?.mode, 'ram', words);
      t.regex(wanted!.source, /^daxram\.conf:/);
      // A reservation that names it refuses it, whichever of its names the gate is asked with.
      const reserving = parseConfig([{file: 'daxram.conf', text: `[device it]\n${words}\nmode = reserved\n`}]);
      const policy = addReservations(makePolicy(), reserving.devices, sysfs);
      t.is(reservedGate({dev, policy, uuids: deviceUuids(dev)}).verdict, 'refuse', words);
      // The operator's record, written by the CLI's writer, is found by daxramd under the same key and wins over the rule.
      const store = new StateStore(path.join(state, String(kind.match(dev).indexOf(words))));
      recordDevices(sysfs, store, [{device: dev.name, mode: 'devdax'}], 'offline');
      const records = store.load().records;
      t.deepEqual(records.map((r) => r.key), [key]);
      const decided = desiredFor(cfg, dev, records);
      t.is(decided?.mode, 'devdax', words);
      t.regex(decided!.source, /^operator \(offline/);
    }
  });
}

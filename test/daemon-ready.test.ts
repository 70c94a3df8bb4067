// READY=1 (and so daxram-online.target) comes after the devices daxramd's `mode = ram` rules
// name are RAM, waiting for them up to device-timeout the way systemd waits for an fstab device:
// NVDIMM namespaces and CXL regions can probe after daxramd starts (on 7.x the dax bus is up
// before the namespaces are).

import test from 'ava';
import * as fs from 'node:fs';
import {parseConfig} from '../daemon/config/config';
import {ConfigError} from '../daemon/errors';
import {driver} from './helpers/engine-context';
import {daemonBed} from './helpers/daemon';

const LATE = '11111111-2222-4333-8444-555555555555';

function setup(conf: string) {
  const bed = daemonBed(conf);
  return {...bed, ns: bed.tb.k.list('/sys/bus/nd/devices', /^namespace/)[0]};
}

test('a configured device that probes after daxramd started: ready only once it is RAM', async (t) => {
  const s = setup(`[daemon]\ndevice-timeout = 20\n\n[device late]\nuuid = ${LATE}\nmode = ram\n`);
  t.teardown(s.cleanup);
  // The namespace is there with another identity; it "probes" as the configured one 400 ms in.
  setTimeout(() => fs.writeFileSync(s.tb.k.p(`/sys/bus/nd/devices/${s.ns}/uuid`), LATE + '\n'), 400);
  const t0 = Date.now();
  await s.d.start();
  t.true(Date.now() - t0 >= 400, 'it waited');
  t.is(driver(s.tb.k), 'kmem', 'RAM before READY');
  t.false(s.lines.some((l) => /ready without/.test(l)));
});

test('a configured device that never comes: ready after device-timeout, naming the rule', async (t) => {
  const s = setup(`[daemon]\ndevice-timeout = 1\n\n[device gone]\nuuid = ${LATE}\nmode = ram\n`);
  t.teardown(s.cleanup);
  const t0 = Date.now();
  await s.d.start();
  t.true(Date.now() - t0 >= 1000);
  t.true(s.lines.some((l) => /^<4>ready without \[device gone\] \(.*daxram\.conf:4\): not present after device-timeout = 1 s/.test(l)), s.lines.join(''));
  t.is(driver(s.tb.k), 'device_dax');
});

test('device-timeout = 0, or rules that are not ram: no wait', async (t) => {
  for (const conf of [`[daemon]\ndevice-timeout = 0\n\n[device gone]\nuuid = ${LATE}\nmode = ram\n`, `[device gone]\nuuid = ${LATE}\nmode = reserved\n`]) {
    const s = setup(conf);
    const t0 = Date.now();
    await s.d.start();
    t.true(Date.now() - t0 < 1000, conf);
    s.cleanup();
  }
});

test('device-timeout is whole seconds', (t) => {
  t.is(parseConfig([{file: 'x.conf', text: '[daemon]\ndevice-timeout = 90\n'}]).daemon.deviceTimeoutSec, 90);
  t.is(parseConfig([{file: 'x.conf', text: ''}]).daemon.deviceTimeoutSec, 30);
  for (const bad of ['-1', '1.5', '30s', '']) t.throws(() => parseConfig([{file: 'x.conf', text: `[daemon]\ndevice-timeout = ${bad}\n`}]), {instanceOf: ConfigError, message: /device-timeout/}, bad);
});

test('a configured device that shows its identity while the start reconcile runs: ready only once it is RAM', async (t) => {
  const s = setup(`[daemon]\ndevice-timeout = 20\n\n[device late]\nuuid = ${LATE}\nmode = ram\n`);
  t.teardown(s.cleanup);
  // The namespace takes the configured identity once the start reconcile has handled the devices
  // it scanned (the race seen under systemd on 6.12): in a --once run no uevent reconciles it.
  const k = s.tb.k;
  const reconcile = s.d.reconcile.bind(s.d);
  let fired = false;
  s.d.reconcile = async (reason: string) => {
    const reports = await reconcile(reason);
    if (!fired && reason === 'start') {
      fired = true;
      fs.writeFileSync(k.p(`/sys/bus/nd/devices/${s.ns}/uuid`), LATE + '\n');
    }
    return reports;
  };
  await s.d.start();
  t.true(fired, 'the start reconcile read the namespace before it changed');
  t.is(driver(k), 'kmem', 'RAM before READY');
  t.false(s.lines.some((l) => /ready without/.test(l)));
});

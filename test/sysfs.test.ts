// Sysfs.writeAttr, the one door every kernel write goes through: it writes only a regular file
// that is the named attribute of the named object under /sys, checked on the file it opened.
// validate() (dry-run plans, the fake kernel) refuses the same paths without opening them.
// And naturalCompare, the order of every directory listed.

import test from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import {execFileSync} from 'node:child_process';
import {PathValidationError} from '../daemon/errors';
import {naturalCompare} from '../daemon/sysfs';
import {buildFixture, GiB, MiB} from './helpers/fixture';

const BLOCK = '/sys/devices/system/memory/memory65';

function fixture(t: {teardown(fn: () => void): void}) {
  const fx = buildFixture({
    ram: [{start: 0n, size: 2n * GiB, node: 0}],
    buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, targetNode: 1, namespaces: [{mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}}, {mode: 'devdax', size: 512n * MiB}]}]}],
  });
  t.teardown(fx.cleanup);
  return fx;
}

test('an attribute of the object named, reached directly or through the bus link, is written', (t) => {
  const fx = fixture(t);
  fx.sysfs.writeAttr(BLOCK, 'memory65', 'state', 'offline');
  t.is(fx.read(`${BLOCK}/state`), 'offline');
  // A fixture file is not truncated on write as an attribute is: a value of the same length.
  fx.sysfs.writeAttr('/sys/bus/dax/devices/dax0.1', 'dax0.1', 'size', '268435456');
  t.is(fx.read('/sys/bus/dax/devices/dax0.1/size').trim(), '268435456');
  t.is(fx.sysfs.validate('/sys/bus/dax/devices/dax0.1', 'dax0.1', 'size'), `${fx.sysfs.real('/sys/bus/dax/devices/dax0.1')}/size`);
});

test('a path that resolves to another object, or outside /sys, is refused by writeAttr and validate, and nothing is written', (t) => {
  const fx = fixture(t);
  const before = fx.read('/sys/bus/dax/devices/dax0.1/size');
  // A link named like dax0.0 that leads to dax0.1.
  fs.mkdirSync(fx.path('/sys/trap'), {recursive: true});
  fs.symlinkSync(fs.readlinkSync(fx.path('/sys/bus/dax/devices/dax0.1')).replace(/^(\.\.\/)+/, fx.path('/sys/')), fx.path('/sys/trap/dax0.0'));
  for (const check of [() => fx.sysfs.writeAttr('/sys/trap/dax0.0', 'dax0.0', 'size', '0'), () => fx.sysfs.validate('/sys/trap/dax0.0', 'dax0.0', 'size')]) {
    t.throws(check, {instanceOf: PathValidationError, message: /refusing to write \/sys\/trap\/dax0.0\/size: it resolves to .*dax0\.1\/size, not size of dax0\.0/});
  }
  t.is(fx.read('/sys/bus/dax/devices/dax0.1/size'), before);
  // An object of the right name outside /sys.
  fs.mkdirSync(fx.path('/etc/memory65'), {recursive: true});
  fs.writeFileSync(fx.path('/etc/memory65/state'), 'online\n');
  fs.symlinkSync(fx.path('/etc/memory65'), fx.path('/sys/trap/memory65'));
  t.throws(() => fx.sysfs.writeAttr('/sys/trap/memory65', 'memory65', 'state', 'offline'), {instanceOf: PathValidationError, message: /resolves to \/etc\/memory65\/state/});
  t.is(fs.readFileSync(fx.path('/etc/memory65/state'), 'utf8'), 'online\n');
});

test('an attribute that is a link, a directory or a FIFO is refused without writing (or hanging); a bad attribute name is refused before any open', (t) => {
  const fx = fixture(t);
  const target = fx.path(`${BLOCK}/state`);
  fs.symlinkSync(target, fx.path(`${BLOCK}/sneaky`));
  t.throws(() => fx.sysfs.writeAttr(BLOCK, 'memory65', 'sneaky', 'offline'), {instanceOf: PathValidationError, message: /refusing to write .*memory65\/sneaky/});
  t.throws(() => fx.sysfs.validate(BLOCK, 'memory65', 'sneaky'), {instanceOf: PathValidationError});
  t.is(fx.read(`${BLOCK}/state`).trim(), 'online');
  fs.mkdirSync(fx.path(`${BLOCK}/group`));
  t.throws(() => fx.sysfs.writeAttr(BLOCK, 'memory65', 'group', 'x'));
  t.throws(() => fx.sysfs.validate(BLOCK, 'memory65', 'group'), {instanceOf: PathValidationError, message: /not a plain attribute of memory65/});
  execFileSync('mkfifo', [fx.path(`${BLOCK}/pipe`)]);
  t.throws(() => fx.sysfs.writeAttr(BLOCK, 'memory65', 'pipe', 'offline'));
  t.throws(() => fx.sysfs.validate(BLOCK, 'memory65', 'pipe'), {instanceOf: PathValidationError});
  for (const attr of ['../memory66/state', '/state', 'State', 'a/b/c']) {
    t.throws(() => fx.sysfs.writeAttr(BLOCK, 'memory65', attr, 'offline'), {instanceOf: PathValidationError, message: /not a sysfs attribute name/});
  }
  t.throws(() => fx.sysfs.writeAttr(BLOCK, 'memory65', 'gone', 'offline'), {instanceOf: PathValidationError, message: /ENOENT/});
});

test('names sort naturally, as the ICU collator daxram used before sorted sysfs names', (t) => {
  t.deepEqual(['dax0.10', 'memory10', 'dax0.2', 'region1', 'memory9', 'dax1.0', 'region10', 'dax0.0'].sort(naturalCompare), ['dax0.0', 'dax0.2', 'dax0.10', 'dax1.0', 'memory9', 'memory10', 'region1', 'region10']);
  t.deepEqual(['a01', 'a1', 'a001', 'a2', 'a', 'a0'].sort(naturalCompare), ['a', 'a0', 'a1', 'a01', 'a001', 'a2']);
  // Kernel object names: lowercase letters, digits and dots. Same sign as the collator, and a
  // total order (antisymmetric; equal only when equal).
  const collator = new Intl.Collator('en', {numeric: true});
  const name = fc.stringMatching(/^[a-z]{0,3}(\d{1,4}[a-z.]{0,2}){0,3}$/);
  const sign = (n: number) => (n > 0 ? 1 : n < 0 ? -1 : 0);
  t.notThrows(() =>
    fc.assert(
      fc.property(name, name, (a, b) => {
        const ours = sign(naturalCompare(a, b));
        const icu = sign(collator.compare(a, b));
        return ours === -sign(naturalCompare(b, a)) && (ours === 0) === (a === b) && (icu === 0 || ours === icu);
      }),
      {numRuns: 2000, seed: 42},
    ),
  );
});

// `daxram scrub` / `daxram clear` through the real CLI on fixture trees: the paths that need no
// bus ioctl (QEMU's NFIT without ARS, hmem) and bad input. ARS and clearing through the CLI are
// proven on nfit_test in test/kernel/scrub.test.ts.

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {buildFixture, GiB, QEMU_NFIT_COMMANDS} from './helpers/fixture';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'daxram');

function daxram(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {encoding: 'utf8'});
  return {status: r.status, stdout: r.stdout, stderr: r.stderr};
}

test('scrub on a QEMU NFIT device: JSON says unsupported and lists the kernel badblocks', (t) => {
  const fx = buildFixture({
    buses: [{commands: QEMU_NFIT_COMMANDS, scrub: null, regions: [{start: 8n * GiB, size: 2n * GiB, badblocks: [[70000, 2]], namespaces: [{mode: 'devdax', size: GiB}]}]}],
  });
  t.teardown(fx.cleanup);
  const r = daxram(['--root', fx.root, '--json', 'scrub', 'dax0.0']);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.is(j.device, 'dax0.0');
  t.false(j.scrubSupported);
  t.regex(j.reason, /does not implement ars_cap\/ars_start\/ars_status \(commands: cmd_call\)/);
  t.deepEqual(j.remaining, [{start: 8 * 2 ** 30 + 70000 * 512, size: 1024}]);
  const h = daxram(['--root', fx.root, 'clear', 'dax0.0', '--dry-run']);
  t.is(h.status, 0, h.stderr);
  t.regex(h.stdout, /scrub unsupported/);
  t.regex(h.stdout, /region badblocks\): 1 range/);
});

test('clear on an hmem device: unsupported, nothing to clear, exit 0', (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  const r = daxram(['--root', fx.root, '--json', 'clear', 'dax0.0']);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.false(j.scrubSupported);
  t.regex(j.reason, /soft-reserved \(hmem\) memory: the platform exposes no poison list/);
  t.deepEqual(j.remaining, []);
});

test('bad device names are usage errors (exit 2); unknown devices name what exists', (t) => {
  const fx = buildFixture({hmem: [{start: 16n * GiB, size: GiB, targetNode: 2}]});
  t.teardown(fx.cleanup);
  const bad = daxram(['--root', fx.root, 'scrub', '../etc']);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /not a dax device name/);
  const missing = daxram(['--root', fx.root, '--json', 'clear', 'dax7.0']);
  t.is(missing.status, 1);
  const e = JSON.parse(missing.stderr);
  t.is(e.error, 'NotFoundError');
  t.is(e.device, 'dax7.0');
  t.regex(e.fix, /dax0\.0/);
});

// What the package ships must say what it is: every configuration key the parser accepts is in
// daxram.conf(5), and every third-party module bundled into /usr/lib/daxram has its copyright
// stanza (debian/copyright; lintian cannot see inside a bundle).

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {DEVICE_KEYS} from '../daemon/config/config';
import {spawnSync} from 'node:child_process';
import {unitNodeOptions} from '../bench/daemon-idle';

const REPO = path.resolve(__dirname, '..', '..');
const read = (p: string) => fs.readFileSync(path.join(REPO, p), 'utf8');

test('every key daxram.conf accepts is documented in daxram.conf(5)', (t) => {
  const keys = [...read('daemon/config/config.ts').matchAll(/^\s*case '([a-z-]+)':/gm)].map((m) => m[1]).concat(DEVICE_KEYS);
  t.true(keys.length >= 20, `found ${keys.length} keys: the parser's shape changed, update this test`);
  const page = read('docs/daxram.conf.5.md');
  const missing = keys.filter((k) => !page.includes(`\`${k}\` =`));
  t.deepEqual(missing, [], 'keys the parser accepts but the man page does not describe');
});

test('every production dependency in the lockfile has a stanza in debian/copyright', (t) => {
  const lock = JSON.parse(read('package-lock.json')) as {packages: Record<string, {dev?: boolean; license?: string}>};
  // @types/ packages are declarations only: nothing of them reaches a bundle.
  const shipped = Object.entries(lock.packages).filter(([p, v]) => p.startsWith('node_modules/') && !p.startsWith('node_modules/@types/') && !v.dev).map(([p]) => p);
  t.true(shipped.length > 0);
  const copyright = read('debian/copyright');
  const missing = shipped.filter((p) => !copyright.includes(`Files: ${p}/*`));
  t.deepEqual(missing, [], 'bundled modules without a copyright stanza');
});

test("daxramd.service's NODE_OPTIONS are ones node accepts there (a refused one would keep the daemon from starting), and the bench runs with them", (t) => {
  const opts = unitNodeOptions(read('systemd/daxramd.service'));
  t.deepEqual(opts, ['--max-semi-space-size=4']);
  const r = spawnSync(process.execPath, ['-e', '0'], {env: {...process.env, NODE_OPTIONS: opts.join(' ')}, encoding: 'utf8'});
  t.is(r.status, 0, r.stderr);
  // Refused options are fatal: the check above can fail.
  t.not(spawnSync(process.execPath, ['-e', '0'], {env: {...process.env, NODE_OPTIONS: '--no-such-option'}}).status, 0);
});

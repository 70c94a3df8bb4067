#!/usr/bin/env node
// `npm run deb`: the Debian packages, built the Debian way (dpkg-buildpackage, debhelper), into
// dist/deb/: daxram_VERSION_ARCH.deb and daxram-node_VERSION_ARCH.deb, with their .buildinfo and
// .changes, then checked by lintian (errors and warnings fail the build; without lintian the
// build says so, and fails under CI, which installs it). Build dependencies are those of
// debian/control (dpkg-dev and debhelper installed, node_modules from npm ci). argv arrays
// only, no shell.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const {spawnSync} = require('node:child_process');

const repo = path.resolve(__dirname, '..');
const out = path.join(repo, 'dist', 'deb');
fs.rmSync(out, {recursive: true, force: true});
fs.mkdirSync(out, {recursive: true});
const rel = (f) => path.relative(repo, path.join(out, f));
const r = spawnSync('dpkg-buildpackage', [
  '-b', '-us', '-uc',
  // Everything it makes goes to dist/deb, not to the checkout's parent directory.
  `--buildinfo-option=-u${out}`, `--buildinfo-file=${rel('daxram.buildinfo')}`,
  `--changes-option=-u${out}`, `--changes-file=${rel('daxram.changes')}`,
], {cwd: repo, stdio: 'inherit', env: {...process.env, DH_BUILDDEB_DESTDIR: out}});
if (r.status !== 0) {
  console.error(`dpkg-buildpackage exited ${r.status ?? r.signal}`);
  process.exit(1);
}
for (const f of fs.readdirSync(out).filter((n) => n.endsWith('.deb'))) {
  console.log(`built ${path.relative(repo, path.join(out, f))} (${(fs.statSync(path.join(out, f)).size / 1048576).toFixed(1)} MiB)`);
}

const debs = fs.readdirSync(out).filter((n) => n.endsWith('.deb')).map((n) => path.join(out, n));
const lintian = spawnSync('lintian', ['--fail-on', 'error,warning', ...debs], {cwd: repo, stdio: 'inherit'});
if (lintian.error && lintian.error.code === 'ENOENT') {
  console.error('!!! lintian is not installed: the packages were NOT checked (apt-get install lintian)');
  if (process.env.CI) process.exit(1);
} else if (lintian.status !== 0) {
  console.error(`lintian failed on ${debs.map((d) => path.relative(repo, d)).join(', ')} (exit ${lintian.status ?? lintian.signal})`);
  process.exit(1);
} else {
  console.log('lintian: no errors, no warnings');
}

#!/usr/bin/env node
// Builds the Debian package from a built checkout (npm run build): dist/build/deb/daxram_<version>_<arch>.deb.
//
// The runtime: Debian 12's nodejs is 18 and daxram needs Node >= 20, which no Debian 12 suite
// (backports included) ships. The package therefore carries its runtime: the node binary the
// package is built with, private to the package at /usr/lib/daxram/node (it depends only on
// libc, libstdc++ and libgcc), with daxram's two bundles (dist/bundle: the program and its
// production dependencies, one file each) and the addon beside it. /usr/bin/daxram and /usr/bin/daxramd are scripts whose interpreter
// is that binary: nothing else on the host sees or uses it.
//
// Everything runs with argv arrays (cp, dpkg-deb): no shell.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const {spawnSync} = require('node:child_process');

const repo = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const out = path.join(repo, 'dist', 'deb');
const arch = {x64: 'amd64', arm64: 'arm64'}[process.arch];
if (!arch) throw new Error(`no Debian architecture for ${process.arch}`);
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) throw new Error(`building with Node ${process.version}: the package carries this runtime and daxram needs >= 20`);

function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), {stdio: ['ignore', 'inherit', 'inherit']});
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
}
function need(p) {
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: run npm run build first`);
  return p;
}
function copy(src, dest, mode) {
  fs.mkdirSync(path.dirname(dest), {recursive: true});
  fs.cpSync(src, dest, {recursive: true, dereference: true});
  if (mode !== undefined) fs.chmodSync(dest, mode);
}
function write(dest, text, mode = 0o644) {
  fs.mkdirSync(path.dirname(dest), {recursive: true});
  fs.writeFileSync(dest, text);
  fs.chmodSync(dest, mode);
}

const stage = path.join(out, `daxram_${pkg.version}_${arch}`);
fs.rmSync(stage, {recursive: true, force: true});
const lib = path.join(stage, 'usr/lib/daxram');

// The runtime and the program.
copy(process.execPath, path.join(lib, 'node'), 0o755);
for (const b of ['daxram', 'daxramd', 'launch']) copy(need(path.join(repo, `dist/bundle/${b}.js`)), path.join(lib, `dist/bundle/${b}.js`), 0o644);
copy(need(path.join(repo, 'build/Release/daxram_native.node')), path.join(lib, 'build/Release/daxram_native.node'), 0o644);
write(path.join(lib, 'package.json'), JSON.stringify({name: pkg.name, version: pkg.version, private: true, license: pkg.license}, null, 2) + '\n');
for (const bin of ['daxram', 'daxramd']) {
  // The bundle through V8's code cache in /var/cache/daxram (daemon/launch.ts).
  write(path.join(stage, 'usr/bin', bin), `#!/usr/lib/daxram/node\n'use strict';\nrequire('/usr/lib/daxram/dist/bundle/launch.js').launch('${bin}', '/usr/lib/daxram/dist/bundle', '/var/cache/daxram', process.argv.slice(2));\n`, 0o755);
}

// Boot integration.
for (const unit of ['daxramd.service', 'daxram-online.target', 'daxram-hotplug-guard.service', 'daxram-hotplug-release.service']) {
  copy(path.join(repo, 'systemd', unit), path.join(stage, 'usr/lib/systemd/system', unit), 0o644);
}
copy(path.join(repo, 'udev/90-daxram.rules'), path.join(stage, 'usr/lib/udev/rules.d/90-daxram.rules'), 0o644);
copy(path.join(repo, 'systemd/daxram-modules.conf'), path.join(stage, 'usr/lib/modules-load.d/daxram.conf'), 0o644);
copy(path.join(__dirname, 'daxram.conf'), path.join(stage, 'etc/daxram/daxram.conf'), 0o644);
for (const doc of ['README.md', 'docs/daemon.md', 'docs/design.md', 'docs/kernel-lab.md', 'docs/list-json.md']) {
  if (fs.existsSync(path.join(repo, doc))) copy(path.join(repo, doc), path.join(stage, 'usr/share/doc/daxram', path.basename(doc)), 0o644);
}
write(path.join(stage, 'usr/share/doc/daxram/copyright'), `daxram ${pkg.version}: ${pkg.license}.\nThe node runtime in /usr/lib/daxram/node is Node.js ${process.version} (MIT; see https://github.com/nodejs/node/blob/main/LICENSE).\n`);

// Control files.
const size = Number(spawnSync('du', ['-sk', stage], {encoding: 'utf8'}).stdout.split('\t')[0]);
write(
  path.join(stage, 'DEBIAN/control'),
  [
    'Package: daxram',
    `Version: ${pkg.version}`,
    `Architecture: ${arch}`,
    'Maintainer: daxram developers <daxram@localhost>',
    `Installed-Size: ${size}`,
    'Depends: libc6 (>= 2.28), libstdc++6 (>= 12), libgcc-s1, kmod, udev, systemd',
    'Suggests: ndctl, daxctl',
    'Section: admin',
    'Priority: optional',
    `Description: ${pkg.description}`,
    ' daxram turns device-dax memory (NVDIMM pmem, legacy e820 pmem, soft-reserved hmem and CXL',
    ' memory expanders) into System RAM, safely: it reads and clears poison, gates on policy,',
    ' binds kmem and onlines the blocks on the device\'s node, Movable by default. daxramd does it',
    ' at boot and keeps doing it; its boot guard keeps the kernel from onlining dax memory before',
    ` it is checked. Carries its own Node.js ${process.version} runtime in /usr/lib/daxram.`,
    '',
  ].join('\n'),
);
write(path.join(stage, 'DEBIAN/conffiles'), '/etc/daxram/daxram.conf\n');
for (const s of ['postinst', 'prerm', 'postrm']) copy(path.join(__dirname, s), path.join(stage, 'DEBIAN', s), 0o755);

const deb = path.join(out, `daxram_${pkg.version}_${arch}.deb`);
fs.rmSync(deb, {force: true});
run(['dpkg-deb', '--root-owner-group', '-Zzstd', '-z3', '--build', stage, deb]);
fs.rmSync(stage, {recursive: true, force: true});
// A stable name for tests and scripts.
fs.copyFileSync(deb, path.join(out, 'daxram.deb'));
console.log(`built ${path.relative(repo, deb)} (${(fs.statSync(deb).size / 1048576).toFixed(1)} MiB)`);

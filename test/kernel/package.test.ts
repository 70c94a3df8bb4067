// The package's life on the Debian 13 root, as a user lives it, in one systemd boot: install
// with apt (only Debian's packages pulled), --version, the daemon up, completion of devices,
// the man pages; an upgrade to a rebuilt package with a higher version restarts daxramd and
// keeps the operator's records; remove keeps configuration and records; purge leaves no file of
// daxram's behind, checked against a list of the root's files taken before the install.
// Installing, upgrading and purging is Debian user space and systemd: one kernel proves it.

import anyTest from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {spawnSync} from 'node:child_process';
import {kernelTest, runGuest, type GuestResult} from './harness';
import {builtDeb, PACKAGE_ROOT} from './daemon-setup';

const test = kernelTest(anyTest, {kernels: ['newest'], root: PACKAGE_ROOT, why: 'apt, dpkg and systemd on the Debian 13 root, the same under every kernel'});

/** The built package with its version raised, as a rebuilt upgrade would be (dpkg-deb, no rebuild). */
function upgradeDeb(deb: string, version: string): string {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-upgrade-'));
  const tree = path.join(work, 'tree');
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, {encoding: 'utf8'});
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  };
  run('dpkg-deb', ['-R', deb, tree]);
  const control = path.join(tree, 'DEBIAN', 'control');
  fs.writeFileSync(control, fs.readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}`));
  const out = path.join(work, `daxram_${version}_amd64.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-b', tree, out]);
  return out;
}

// (BASH{ is the shell's ${, which a template literal would take for its own.)
// Every file under the root's persistent trees, minus what apt, dpkg, the journal and systemd
// keep for themselves whatever is installed.
const SCRIPT = (deb: string, deb2: string) => String.raw`
set -u
O=$HARNESS_OUT
snap() {
  find /etc /usr /var /opt /srv \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache/apt -o -path /var/cache/debconf \
    -o -path /var/log -o -path /var/cache/ldconfig -o -path /var/tmp -o -path /var/lib/systemd \) -prune -o -print | sort
}
waitactive() { for i in $(seq 1 240); do [ "$(systemctl is-active daxramd)" = active ] && return 0; sleep 0.5; done; return 1; }
ndctl create-namespace -r region0 -m devdax -a 2M -s 256M > $O/ns.json 2>&1
snap > $O/files-before
ls -d /run/daxram > $O/run-before 2>&1

apt-get install -y ${deb} > $O/apt-install.log 2>&1; echo $? > $O/install.rc
daxram --version > $O/version.txt 2>&1; echo $? > $O/version.rc
waitactive; echo $? > $O/active.rc
systemctl status daxramd --no-pager > $O/status.txt 2>&1
systemctl show -p MainPID --value daxramd > $O/pid1
# An operator record, which an upgrade must keep.
daxram offline dax0.0 > $O/offline.txt 2>&1; echo $? > $O/offline.rc
ls /var/lib/daxram > $O/state1
bash -c '. /usr/share/bash-completion/completions/daxram; COMP_WORDS=(daxram online ""); COMP_CWORD=2; _daxram; printf "%s\n" "BASH{COMPREPLY[@]}"' > $O/complete-dev.txt 2>&1
bash -c '. /usr/share/bash-completion/completions/daxram; COMP_WORDS=(daxram re); COMP_CWORD=1; _daxram; printf "%s\n" "BASH{COMPREPLY[@]}"' > $O/complete-verb.txt 2>&1
zcat /usr/share/man/man8/daxram.8.gz > $O/daxram.8 2>&1
zcat /usr/share/man/man5/daxram.conf.5.gz > $O/daxram.conf.5 2>&1

apt-get install -y ${deb2} > $O/apt-upgrade.log 2>&1; echo $? > $O/upgrade.rc
dpkg-query -W -f 'BASH{Version}\n' daxram > $O/version2.txt
waitactive; echo $? > $O/active2.rc
systemctl show -p MainPID --value daxramd > $O/pid2
ls /var/lib/daxram > $O/state2

apt-get remove -y daxram > $O/apt-remove.log 2>&1; echo $? > $O/remove.rc
systemctl is-active daxramd > $O/active3.txt 2>&1
ls /etc/daxram /var/lib/daxram > $O/after-remove.txt 2>&1

apt-get purge -y daxram > $O/apt-purge.log 2>&1; echo $? > $O/purge.rc
snap > $O/files-after
ls -d /run/daxram > $O/run-after 2>&1
true
`.replace(/BASH\{/g, '${');

let r: GuestResult;
test.before(async () => {
  const deb = builtDeb();
  r = await runGuest({systemd: true, root: PACKAGE_ROOT, script: SCRIPT(deb, upgradeDeb(deb, '0.1.0+upgrade1')), timeoutMs: 900_000});
});
const f = (n: string) => r.readFile(n).trim();

test('apt install pulls only daxram; --version answers; daxramd comes up; completion lists verbs and devices; the man pages have every verb', (t) => {
  t.is(r.status, 0, r.stderr);
  t.is(f('install.rc'), '0', f('apt-install.log'));
  const news = /The following NEW packages will be installed:\n((?:\s+.*\n)+?)\S/.exec(r.readFile('apt-install.log'))?.[1].trim().split(/\s+/);
  t.deepEqual(news, ['daxram'], 'nodejs comes with the root, nothing else is needed');
  t.is(f('version.rc'), '0');
  t.is(f('version.txt'), '0.1.0');
  t.is(f('active.rc'), '0', f('status.txt'));
  t.deepEqual(f('complete-verb.txt').split('\n').sort(), ['reassign', 'recover', 'release']);
  t.true(f('complete-dev.txt').split('\n').includes('dax0.0'), f('complete-dev.txt'));
  const man = r.readFile('daxram.8');
  for (const verb of ['list', 'online', 'offline', 'reassign', 'provision', 'release', 'recover', 'scrub', 'clear', 'status', 'config', 'forget']) t.regex(man, new RegExp(`\\b${verb}\\b`), verb);
  t.regex(r.readFile('daxram.conf.5'), /mode/);
});

test('an upgrade to a higher version restarts daxramd and keeps the operator records; remove keeps configuration and records', (t) => {
  t.is(f('offline.rc'), '0', f('offline.txt'));
  t.true(f('state1').split('\n').includes('desired.json'), f('state1'));
  t.is(f('upgrade.rc'), '0', f('apt-upgrade.log'));
  t.is(f('version2.txt'), '0.1.0+upgrade1');
  t.is(f('active2.rc'), '0');
  t.not(f('pid2'), f('pid1'), 'a new daxramd after the upgrade');
  t.true(f('state2').split('\n').includes('desired.json'), f('state2'));
  t.is(f('remove.rc'), '0', f('apt-remove.log'));
  t.regex(f('active3.txt'), /inactive|unknown/);
  t.regex(f('after-remove.txt'), /daxram\.conf/);
  t.regex(f('after-remove.txt'), /desired\.json/);
});

test('purge leaves no file of daxram behind', (t) => {
  t.is(f('purge.rc'), '0', f('apt-purge.log'));
  const before = new Set(f('files-before').split('\n'));
  const left = f('files-after').split('\n').filter((p) => !before.has(p));
  t.deepEqual(left.filter((p) => /daxram/.test(p)), [], 'files of daxram left behind');
  t.is(f('run-after'), f('run-before'));
  if (left.length) t.log(`other new files (not daxram's): ${left.join(' ')}`);
});

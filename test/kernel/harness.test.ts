// Tests of the kernel-lab harness itself, each against a real 6.1 kernel in a QEMU guest.
// Boots are expensive under TCG, so each test batches several checks per boot.
import anyTest from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {expectSuccess, GuestError, kernelTest, repoRoot, runGuest} from './harness';
import {schedulerStatus} from './scheduler';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});
// How the harness handles a failing or hanging script does not depend on the guest's kernel.
const harnessOnly = kernelTest(anyTest, {kernels: ['6.12'], why: "the harness's own behaviour, the same under every kernel"});

interface NdBus {provider: string; dev: string; regions?: Array<{dev: string; size: number; type: string; numa_node?: number; target_node?: number}>}
interface DaxDev {chardev: string; size: number; target_node: number; mode: string}

// The image written by the first test and booted again, under systemd, by the last one.
const imageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-harness-test-'));
const sharedImage = path.join(imageDir, 'nvdimm.img');
let imageReady: (ok: boolean) => void = () => undefined;
const imageIsReady = new Promise<boolean>((resolve) => {
  imageReady = resolve;
});
anyTest.after.always(() => fs.rmSync(imageDir, {recursive: true, force: true}));

test('QEMU NVDIMM: ACPI.NFIT region on node 1; a devdax namespace gives a dax device on node 1', async (t) => {
  try {
    const r = await runGuest({
      image: sharedImage,
      script: `
        set -e
        ndctl list -BR > "$HARNESS_OUT/buses.json"
        for a in target_node numa_node size; do
          printf '%s=%s\\n' "$a" "$(cat /sys/bus/nd/devices/region0/$a)"
        done
        echo "provider=$(cat /sys/bus/nd/devices/ndbus0/provider)"
        ndctl create-namespace -r region0 -m devdax -a 2M -s 512M > "$HARNESS_OUT/ns.json"
        daxctl list > "$HARNESS_OUT/dax.json"
        echo "dax_target_node=$(cat /sys/bus/dax/devices/dax0.0/target_node)"
        echo "dax_driver=$(basename "$(readlink /sys/bus/dax/devices/dax0.0/driver)")"
        test -c /dev/dax0.0 && echo "chardev=yes"
      `,
    });
    expectSuccess(r);
    const buses = r.readJson<NdBus[] | NdBus>('buses.json');
    const acpi = (Array.isArray(buses) ? buses : [buses]).find((b) => b.provider === 'ACPI.NFIT');
    t.truthy(acpi, 'ndctl shows an ACPI.NFIT bus');
    const region0 = acpi?.regions?.find((x) => x.dev === 'region0');
    t.is(region0?.type, 'pmem');
    t.regex(r.stdout, /^target_node=1$/m, 'sysfs region0/target_node');
    t.regex(r.stdout, /^provider=ACPI\.NFIT$/m);
    t.regex(r.stdout, /^size=2147352576$/m, '2 GiB minus the 128K label area');
    const ns = r.readJson<{mode: string; daxregion: {devices: Array<{chardev: string; target_node: number}>}}>('ns.json');
    t.is(ns.mode, 'devdax');
    t.is(ns.daxregion.devices[0].chardev, 'dax0.0');
    const dax = r.readJson<DaxDev[] | DaxDev>('dax.json');
    const dev = (Array.isArray(dax) ? dax : [dax]).find((d) => d.chardev === 'dax0.0');
    t.is(dev?.target_node, 1, 'daxctl: dax0.0 on node 1');
    t.is(dev?.mode, 'devdax');
    t.regex(r.stdout, /^dax_target_node=1$/m);
    t.regex(r.stdout, /^dax_driver=device_dax$/m);
    t.regex(r.stdout, /^chardev=yes$/m);
    t.log(`script-mode guest: ${(r.durationMs / 1000).toFixed(1)} s`);
    imageReady(true);
  } catch (e) {
    imageReady(false);
    throw e;
  }
});

test('nfit_test: nfit_test.0/.1 buses with ARS and clear_error next to ACPI.NFIT', async (t) => {
  const r = expectSuccess(await runGuest({
    nfitTest: true,
    labels: false,
    script: `
      set -e
      ndctl list -B > "$HARNESS_OUT/buses.json"
      for b in /sys/bus/nd/devices/ndbus*; do
        echo "$(cat $b/provider): $(cat $b/commands)"
      done
      grep -E '^(nfit_test|nfit|libnvdimm|kmem|device_dax) ' /proc/modules | cut -d' ' -f1 | sort | tr '\\n' ' '
      echo
      echo "region0_target_node=$(cat /sys/bus/nd/devices/region0/target_node)"
    `,
  }));
  const buses = r.readJson<NdBus[]>('buses.json');
  const providers = buses.map((b) => b.provider).sort();
  t.deepEqual(providers, ['ACPI.NFIT', 'nfit_test.0', 'nfit_test.1']);
  for (const p of ['nfit_test.0', 'nfit_test.1']) {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${p}: `)) ?? '';
    for (const cmd of ['ars_cap', 'ars_start', 'ars_status', 'clear_error']) {
      t.true(line.split(/\s+/).includes(cmd), `${p} has ${cmd}: ${line}`);
    }
  }
  t.regex(r.stdout, /^ACPI\.NFIT: cmd_call\s*$/m, 'QEMU NFIT has no ARS');
  t.regex(r.stdout, /device_dax kmem libnvdimm nfit nfit_test/);
  t.regex(r.stdout, /^region0_target_node=1$/m, 'ACPI.NFIT keeps region0 on node 1');
  t.log(`script-mode guest with nfit_test: ${(r.durationMs / 1000).toFixed(1)} s`);
});

harnessOnly('a failing guest script: status and message reach the host', async (t) => {
  // Deliberately wrong expectation: dax9.9 does not exist.
  const script = 'set -e\necho checking dax9.9\ncat /sys/bus/dax/devices/dax9.9/size\necho unreachable\n';
  const r = await runGuest({nvdimm: false, modprobe: [], script});
  t.is(r.status, 1);
  t.regex(r.stdout, /checking dax9\.9/);
  t.notRegex(r.stdout, /unreachable/);
  t.regex(r.stderr, /dax9\.9\/size: No such file or directory/);
  const e = t.throws(() => expectSuccess(r));
  t.regex(e?.message ?? '', /status 1[\s\S]*dax9\.9\/size: No such file or directory/);
  // The same through the promise, as a test would use it.
  await t.throwsAsync(runGuest({nvdimm: false, modprobe: [], script: 'daxctl list -d dax9.9 -i >/dev/null; test -e /dev/dax9.9 || { echo "no dax9.9" >&2; exit 7; }'}).then(expectSuccess), {
    message: /status 7[\s\S]*no dax9\.9/,
  });
});

harnessOnly('a hanging guest script times out: QEMU killed and reaped, its slot free, console tail and guest time in the error', async (t) => {
  const e = await t.throwsAsync(runGuest({
    label: 'deliberate-timeout',
    nvdimm: false,
    modprobe: [],
    timeoutMs: 30_000,
    script: 'echo about to hang > /dev/console; sleep 100000',
  }), {instanceOf: GuestError});
  t.true(e?.timedOut);
  t.regex(e?.message ?? '', /timed out after 30000 ms/);
  t.regex(e?.message ?? '', /the guest ran 3\d\.\d s after waiting [\d.]+ s for a slot; last seen: script running/);
  // The slot went back to the queue with the guest, and no child of this worker is a zombie.
  const s = await schedulerStatus();
  t.false((s?.running ?? []).some((r) => r.label === 'deliberate-timeout'), 'slot released');
  const zombies = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return state === 'Z' && Number(ppid) === process.pid;
    } catch {
      return false;
    }
  });
  t.deepEqual(zombies, [], 'no zombie child');
  t.regex(e?.message ?? '', /--- console \(last 40 lines\) ---\n[\s\S]*\S/);
  t.true((e?.console.length ?? 0) > 0);
  // No QEMU left behind on this results share.
  const left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(e?.outDir ?? '\0');
    } catch {
      return false;
    }
  });
  t.deepEqual(left, []);
  if (e?.console.includes('daxram-init: running the guest script')) {
    t.regex(e.console, /about to hang/);
  }
  fs.rmSync(e?.outDir ?? '/nonexistent', {recursive: true, force: true});
});

test('systemd guest: PID 1 is systemd, udev adds the dax device at boot, install/enable/preScript', async (t) => {
  t.true(await imageIsReady, 'needs the image with a devdax namespace from the first test');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-harness-files-'));
  try {
    fs.writeFileSync(path.join(dir, 'marker'), 'host tmp visible\n');
    fs.writeFileSync(path.join(dir, '99-harness-test.rules'),
      'ACTION=="add", SUBSYSTEM=="dax", RUN+="/bin/sh -c \'echo %k >> /run/harness-dax-added\'"\n');
    fs.writeFileSync(path.join(dir, 'harness-hello.service'),
      '[Unit]\nDescription=harness test unit\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c "cat /etc/harness-pre > /run/harness-hello"\n[Install]\nWantedBy=multi-user.target\n');
    const r = await runGuest({
      systemd: true,
      image: sharedImage,
      install: [
        {src: path.join(dir, '99-harness-test.rules'), dest: '/etc/udev/rules.d/'},
        {src: path.join(dir, 'harness-hello.service'), dest: '/etc/systemd/system/harness-hello.service'},
      ],
      enable: ['harness-hello.service'],
      preScript: 'echo "written before systemd" > /etc/harness-pre',
      script: `
        echo "pid1=$(cat /proc/1/comm)"
        echo "tmp=$(cat ${JSON.stringify(path.join(dir, 'marker'))})"
        echo "cwd=$(pwd)"
        echo "state=$(systemctl is-system-running)"
        systemctl --failed --no-legend --plain
        echo "hello=$(cat /run/harness-hello)"
        echo "added=$(cat /run/harness-dax-added 2>&1 | tr '\\n' ' ')"
        udevadm info --query=property --name=/dev/dax0.0 | grep -E '^(SUBSYSTEM|DEVNAME)='
        echo "target_node=$(cat /sys/bus/dax/devices/dax0.0/target_node)"
        systemd-analyze | head -1
      `,
    });
    expectSuccess(r);
    t.regex(r.stdout, /^pid1=systemd$/m);
    t.regex(r.stdout, /^tmp=host tmp visible$/m, "the host's /tmp is not hidden (CI clones live there)");
    t.true(r.stdout.split('\n').includes(`cwd=${repoRoot()}`), 'cwd is the repo, at its host path');
    t.regex(r.stdout, /^state=(running|degraded)$/m);
    t.regex(r.stdout, /^hello=written before systemd$/m, 'enabled unit ran and saw the preScript file');
    t.regex(r.stdout, /^added=.*\bdax0\.0\b/m, 'udev ran our installed rule for the dax add event at boot');
    t.regex(r.stdout, /^SUBSYSTEM=dax$/m);
    t.regex(r.stdout, /^DEVNAME=\/dev\/dax0\.0$/m);
    t.regex(r.stdout, /^target_node=1$/m, 'the namespace made in the first boot persisted in the image');
    t.log(`systemd guest: ${(r.durationMs / 1000).toFixed(1)} s; ${r.stdout.match(/^Startup finished.*$/m)?.[0] ?? ''}`);
    if (/^state=degraded$/m.test(r.stdout)) t.log(`degraded: ${r.stdout}`);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});

// `daxram list --json` against the reference tools on a real 6.1 kernel: with nfit_test
// loaded (three buses) and two devdax namespaces on the QEMU NVDIMM, one reconfigured to
// system-ram by daxctl, every field daxram shares with `daxctl list -DRM` and
// `ndctl list -BDRN` must agree. One boot.

import anyTest from 'ava';
import {runGuest, kernelTest} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
ndctl create-namespace -r region0 -m devdax -a 2M -s 1G > $O/ns0.json || exit 10
ndctl create-namespace -r region0 -m devdax -a 2M -s 512M > $O/ns1.json || exit 11
# nfit_test.0: a devdax namespace too (its memory is fake: never onlined).
ndctl disable-region -b nfit_test.0 all >/dev/null 2>&1
ndctl init-labels -f -b nfit_test.0 all >/dev/null 2>&1
ndctl enable-region -b nfit_test.0 all >/dev/null 2>&1
ndctl create-namespace -b nfit_test.0 -t pmem -m devdax -a 4K > $O/ns-test.json 2> $O/ns-test.err
echo offline > /sys/devices/system/memory/auto_online_blocks   # 6.12: daxctl refuses Movable otherwise
daxctl reconfigure-device -m system-ram dax0.0 > $O/reconf.json || exit 12
# nfit_test starts kernel scrubs of its own; compare a settled platform, not a race.
ndctl wait-scrub all > /dev/null 2>&1
daxctl list -DRM > $O/daxctl.json
ndctl list -BDRN > $O/ndctl.json
t0=$(date +%s%N)
node bin/daxram list --json -R -B -D > $O/daxram.json 2> $O/daxram.err; echo $? > $O/daxram.rc
t1=$(date +%s%N)
echo $(( (t1-t0)/1000000 )) > $O/ms
node bin/daxram list -R > $O/daxram.txt 2>&1
exit 0
`;

type J = Record<string, any>;

test('daxram list --json agrees with daxctl list -DRM and ndctl list -BDRN', async (t) => {
  const r = await runGuest({script: SCRIPT, nfitTest: true, timeoutMs: 420_000});
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.is(r.readFile('daxram.rc').trim(), '0', r.readFile('daxram.err'));
  const ours = r.readJson<J>('daxram.json');
  const daxctl = r.readJson<J[]>('daxctl.json');
  const ndctl = r.readJson<J[]>('ndctl.json');
  t.log(`daxram list --json in the guest: ${r.readFile('ms').trim()} ms (TCG)`);
  t.log('\n' + r.readFile('daxram.txt'));

  // daxctl: every device, every field it prints.
  const daxDevs: J[] = daxctl.flatMap((reg) => reg.devices ?? []);
  t.true(daxDevs.length >= 2, JSON.stringify(daxctl));
  const byChardev = new Map<string, J>(ours.devices.map((d: J) => [d.chardev, d]));
  t.deepEqual([...byChardev.keys()].sort(), daxDevs.map((d) => d.chardev).sort(), 'same device set as daxctl');
  let compared = 0;
  for (const d of daxDevs) {
    const o = byChardev.get(d.chardev)!;
    for (const k of ['size', 'target_node', 'align', 'mode', 'online_memblocks', 'total_memblocks', 'movable', 'state']) {
      t.deepEqual(o[k], d[k], `${d.chardev}.${k}`);
      compared++;
    }
    t.deepEqual(o.mappings, d.mappings, `${d.chardev}.mappings`);
  }
  const sysram = byChardev.get('dax0.0')!;
  t.is(sysram.mode, 'system-ram');
  t.is(sysram.online_memblocks, 7);
  t.is(sysram.movable, true);
  t.is(sysram.kmem_capacity, 7 * 128 * 1024 * 1024);
  t.is(sysram.namespace, 'namespace0.0');
  t.is(sysram.region, 'region0');
  t.is(sysram.bus, 'ACPI.NFIT');

  // ndctl: buses, DIMMs, regions, namespaces — and each dax device's origin.
  const ourBus = new Map<string, J>(ours.buses.map((b: J) => [b.dev, b]));
  const ourDimm = new Map<string, J>(ours.dimms.map((d: J) => [d.dev, d]));
  const ourRegion = new Map<string, J>(ours.regions.map((x: J) => [x.dev, x]));
  t.deepEqual([...ourBus.keys()].sort(), ndctl.map((b) => b.dev).sort(), 'same buses as ndctl');
  for (const b of ndctl) {
    const o = ourBus.get(b.dev)!;
    t.is(o.provider, b.provider, `${b.dev}.provider`);
    if (b.scrub_state !== undefined) t.is(o.scrub_state, b.scrub_state, `${b.dev}.scrub_state`);
    for (const d of b.dimms ?? []) {
      const od = ourDimm.get(d.dev);
      t.truthy(od, `dimm ${d.dev}`);
      for (const k of ['id', 'handle', 'phys_id', 'security']) if (d[k] !== undefined) t.deepEqual(od![k], d[k], `${d.dev}.${k}`);
    }
    for (const reg of b.regions ?? []) {
      const or = ourRegion.get(reg.dev);
      t.truthy(or, `region ${reg.dev}`);
      if (!or) continue;
      t.is(or.bus, b.provider, `${reg.dev}.bus`);
      for (const k of ['size', 'align', 'available_size', 'max_available_extent', 'type', 'persistence_domain', 'mappings']) {
        if (reg[k] !== undefined) {
          // ndctl lists a region's mappings in its own order; what matters is the set.
          const norm = (v: any) => (k === 'mappings' ? [...v].sort((a: J, b: J) => a.position - b.position) : v);
          t.deepEqual(norm(or[k]), norm(reg[k]), `${reg.dev}.${k}`);
          compared++;
        }
      }
      const ourNs = new Map<string, J>(or.namespaces.map((n: J) => [n.dev, n]));
      for (const ns of reg.namespaces ?? []) {
        const on = ourNs.get(ns.dev);
        t.truthy(on, `namespace ${ns.dev}`);
        if (!on) continue;
        for (const k of ['mode', 'map', 'size', 'uuid', 'chardev', 'align']) {
          if (ns[k] !== undefined) {
            t.deepEqual(on[k], ns[k], `${ns.dev}.${k}`);
            compared++;
          }
        }
        if (ns.chardev) {
          const od = byChardev.get(ns.chardev)!;
          t.is(od.namespace, ns.dev, `${ns.chardev}.namespace`);
          t.is(od.region, reg.dev, `${ns.chardev}.region`);
          t.is(od.bus, b.provider, `${ns.chardev}.bus`);
        }
      }
    }
  }
  t.log(`${compared} scalar fields compared`);
});

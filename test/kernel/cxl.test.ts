// CXL volatile memory on 6.12 + QEMU 10 (one type-3 device behind one host bridge): a RAM
// region made through sysfs (test/kernel/cxl.ts), listed with its true origin and compared
// field by field with `cxl list -M -R -D` and daxctl; onlined Movable on its own node (the
// node's meminfo grows by exactly the blocks) with the kernel's default policy
// auto_online_blocks=online, and back to devdax, zeroed.

import anyTest from 'ava';
import {CXL_SERIAL_BASE, kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_RAM_REGION} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3 and QEMU >= 8.1'});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
${CXL_RAM_REGION}
# 512 MiB: every store to CXL memory is emulated by QEMU (zeroing runs at 23 MB/s under TCG),
# and four blocks show the online and the zeroing as well as eight.
make_ram_region decoder2.0 $((512 << 20)) || { echo "region: step $?" > $O/region.err; exit 10; }
echo $REGION > $O/region
DAX=$(basename $(ls -d /sys/bus/cxl/devices/$REGION/dax_region*/dax* | head -1))
echo $DAX > $O/dax
NODE=$(cat /sys/bus/dax/devices/$DAX/target_node)
echo $NODE > $O/node
cat /sys/devices/system/memory/auto_online_blocks > $O/auto0
dx list --json -C > $O/list.json 2> $O/list.err || exit 11
dx list -C > $O/list.txt 2>&1
cxl list -M -R -D > $O/cxl.json
daxctl list -DR > $O/daxctl.json
memn() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node$NODE/meminfo 2>/dev/null || echo 0; }
dx offline $DAX --json > $O/pre.json 2> $O/pre.err; echo $? > $O/pre.rc   # unbound (no udev loaded kmem) → devdax
/usr/bin/python3 test/kernel/daxmap.py pattern $DAX > $O/pattern 2>&1
m0=$(memn)
dx online $DAX --json > $O/on.json 2> $O/on.err; echo $? > $O/on.rc
m1=$(memn)
echo $((m1 - m0)) > $O/grew-kb
cat /sys/devices/system/memory/auto_online_blocks > $O/auto1
daxctl list -D -d $DAX > $O/daxctl-on.json
dx list --json -d $DAX > $O/list-on.json
cat /sys/devices/virtual/memory_tiering/memory_tier*/nodelist > $O/tiers 2>&1
dx offline $DAX --json > $O/off.json 2> $O/off.err; echo $? > $O/off.rc
daxctl list -D -d $DAX > $O/daxctl-off.json
/usr/bin/python3 test/kernel/daxmap.py check $DAX > $O/zero 2>&1
`;

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, cxl: {memdevs: 1}, timeoutMs: 600_000});
});
const f = (n: string) => r.readFile(n).trim();

test('a CXL RAM region is listed with its origin (memdev with serial, region, root decoder, interleave, host bridge, decode state), like cxl list and daxctl', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const ours = r.readJson<J>('list.json');
  const dax = f('dax');
  const dev = ours.devices.find((d: J) => d.chardev === dax);
  t.is(dev.origin, 'cxl');
  t.like(dev.cxl, {region: f('region'), root_decoder: 'decoder0.0', interleave_ways: 1, interleave_granularity: 256, decode_state: 'commit', memdevs: ['mem0'], endpoint_decoders: ['decoder2.0']});
  t.deepEqual(dev.cxl.host_bridges, ['pci0000:0c']);
  // daxctl's view of the device.
  const dd = r.readJson<J[]>('daxctl.json').flatMap((x) => x.devices ?? []).find((d: J) => d.chardev === dax);
  for (const k of ['size', 'target_node', 'align', 'mode', 'state']) t.deepEqual(dev[k], dd[k], `${dax}.${k}`);
  // cxl list -M -R -D, field by field.
  const cx = r.readJson<J[]>('cxl.json');
  const group = (key: string): J[] => cx.flatMap((g) => g[key] ?? []);
  const mem = group('memdevs')[0];
  const ourMem = ours.cxl.memdevs[0];
  for (const k of ['memdev', 'ram_size', 'serial', 'host']) t.deepEqual(ourMem[k], mem[k], `memdev.${k}`);
  t.is(ourMem.serial, CXL_SERIAL_BASE);
  const root = group('root decoders')[0];
  const ourRoot = ours.cxl.root_decoders[0];
  for (const k of ['decoder', 'resource', 'size', 'interleave_ways', 'pmem_capable', 'volatile_capable', 'nr_targets']) t.deepEqual(ourRoot[k], root[k], `root.${k}`);
  const reg = root[`regions:${root.decoder}`][0];
  const ourReg = ours.cxl.regions[0];
  for (const k of ['region', 'resource', 'size', 'interleave_ways', 'interleave_granularity', 'decode_state']) t.deepEqual(ourReg[k], reg[k], `region.${k}`);
  for (const [kind, ourKind] of [['port decoders', 'port_decoders'], ['endpoint decoders', 'endpoint_decoders']] as const) {
    for (const d of group(kind)) {
      const o = ours.cxl[ourKind].find((x: J) => x.decoder === d.decoder);
      t.truthy(o, `${d.decoder} listed`);
      for (const k of ['resource', 'size', 'interleave_ways', 'region', 'dpa_resource', 'dpa_size', 'mode', 'nr_targets']) {
        if (d[k] !== undefined) t.deepEqual(o[k], d[k], `${d.decoder}.${k}`);
      }
    }
  }
  t.log('\n' + f('list.txt'));
});

test('CXL: online lands Movable on its own node with auto_online_blocks=online (the policy comes back); meminfo grows by exactly the blocks; offline back to devdax, zeroed', (t) => {
  t.is(f('auto0'), 'online', "6.12's default policy");
  t.is(f('pre.rc'), '0', f('pre.err'));
  t.regex(f('pattern'), /^pattern 3$/);
  t.is(f('on.rc'), '0', f('on.err'));
  const on = r.readJson<J>('on.json');
  const node = Number(f('node'));
  t.true(node >= 2, 'a node of its own');
  t.is(on.blocks.length, 4, '512 MiB of 128 MiB blocks');
  t.true(on.blocks.every((b: J) => b.state === 'online' && b.zone === 'Movable' && b.node === node && b.by === 'daxram'), JSON.stringify(on.blocks));
  t.is(f('auto1'), 'online', 'policy given back');
  t.like(r.readJson<J[]>('daxctl-on.json')[0], {mode: 'system-ram', movable: true, online_memblocks: 4, total_memblocks: 4});
  t.is(Number(f('grew-kb')) * 1024, on.bytes);
  t.log(`memory tiers after online: ${f('tiers').replace(/\n/g, ' | ')}`);
  t.is(f('off.rc'), '0', f('off.err'));
  t.is(r.readJson<J[]>('daxctl-off.json')[0].mode, 'devdax');
  t.is(f('zero'), 'zero');
});

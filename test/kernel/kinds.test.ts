// The other dax memory kinds on both kernels, in one boot each: legacy e820 pmem (memmap=256M!1G,
// the seeds' trace-buffer setup, made devdax with ndctl) and a soft-reserved range
// (memmap=256M%1280M+0xefffffff, an hmem device). Listed with their true origin and compared
// field by field with daxctl and ndctl; onlined Movable (node 0 meminfo grows by exactly the
// blocks) and back to devdax, zeroed. On 6.12 the hmem device waits without a driver in script
// mode (no udev to load kmem): daxram gives it one.

import anyTest from 'ava';
import {E820_PMEM_ARG, HMEM_RANGE_ARG, kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
mem0() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node0/meminfo; }
NS=$(ndctl list -N -b e820 | grep -o '"dev":"namespace[0-9.]*"' | cut -d'"' -f4 | head -1)
ndctl create-namespace -f -e $NS -m devdax -a 4K > $O/e820-ns.json || exit 10
dx list --json -R -B > $O/list0.json 2> $O/list0.err || exit 11
daxctl list -DRM > $O/daxctl0.json
ndctl list -BRN > $O/ndctl0.json
dx list > $O/list0.txt 2>&1
eval "$(node -e '
  const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).devices;
  const by = (k) => (l.find((d) => d.origin === k) || {}).chardev || "";
  console.log("E820=" + by("e820") + " HMEM=" + by("hmem"));
' $O/list0.json)"
echo "$E820 $HMEM" > $O/names
for D in $E820 $HMEM; do
  dx offline $D --json > $O/$D.pre.json 2> $O/$D.pre.err; echo $? > $O/$D.pre.rc   # unbound (6.12 hmem) → devdax
  /usr/bin/python3 test/kernel/daxmap.py pattern $D > $O/$D.pattern 2>&1
  m0=$(mem0)
  dx online $D --json > $O/$D.on.json 2> $O/$D.on.err; echo $? > $O/$D.on.rc
  m1=$(mem0)
  echo $((m1 - m0)) > $O/$D.grew-kb
  daxctl list -D -d $D > $O/$D.daxctl-on.json
  dx list --json -d $D > $O/$D.list-on.json
  dx offline $D --json > $O/$D.off.json 2> $O/$D.off.err; echo $? > $O/$D.off.rc
  m2=$(mem0)
  echo $((m2 - m0)) > $O/$D.after-kb
  daxctl list -D -d $D > $O/$D.daxctl-off.json
  /usr/bin/python3 test/kernel/daxmap.py check $D > $O/$D.zero 2>&1
done
cat /sys/devices/system/memory/auto_online_blocks > $O/auto-end
`;

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, nvdimm: false, kernelArgs: [E820_PMEM_ARG, HMEM_RANGE_ARG], timeoutMs: 600_000});
});

const f = (n: string) => r.readFile(n).trim();
const names = () => f('names').split(' ');

test('e820 and hmem devices are listed with their true origin, field by field like daxctl and ndctl', (t) => {
  t.is(r.status, 0, r.stderr);
  const [e820, hmem] = names();
  t.truthy(e820 && hmem, f('names'));
  const ours = r.readJson<J>('list0.json');
  const byDev = new Map<string, J>(ours.devices.map((d: J) => [d.chardev, d]));
  const dx = r.readJson<J[]>('daxctl0.json');
  const dd: J[] = dx.flatMap((reg) => reg.devices ?? []);
  t.deepEqual([...byDev.keys()].sort(), dd.map((d) => d.chardev).sort());
  for (const d of dd) {
    const o = byDev.get(d.chardev)!;
    for (const k of ['size', 'target_node', 'align', 'mode', 'state', 'mappings']) t.deepEqual(o[k], d[k], `${d.chardev}.${k}`);
  }
  // e820: the legacy pmem region on bus "e820", its namespace devdax, as ndctl shows it.
  const e = byDev.get(e820)!;
  t.is(e.origin, 'e820');
  t.is(e.bus, 'e820');
  const nb = r.readJson<J[]>('ndctl0.json');
  const bus = nb.find((b) => b.provider === 'e820')!;
  t.truthy(bus, JSON.stringify(nb));
  const reg = bus.regions[0];
  t.is(e.region, reg.dev);
  t.is(e.namespace, reg.namespaces[0].dev);
  const ourReg = ours.regions.find((x: J) => x.dev === reg.dev);
  for (const k of ['size', 'align', 'available_size', 'type', 'persistence_domain']) t.deepEqual(ourReg[k], reg[k], `${reg.dev}.${k}`);
  t.deepEqual(ours.buses.find((b: J) => b.provider === 'e820')?.dev, bus.dev);
  // hmem: the platform device daxctl's region path names, and the soft-reserved range.
  const h = byDev.get(hmem)!;
  t.is(h.origin, 'hmem');
  const hreg = dx.find((x) => (x.devices ?? []).some((d: J) => d.chardev === hmem))!;
  // /platform/hmem.1 before 7.x, /platform/hmem_platform.0/hmem.1 on the newest kernel.
  t.is(hreg.path.split('/').pop(), h.provider, hreg.path);
  t.is(h.mappings[0].start, 0x50000000);
  t.log(`hmem iomem entry: ${JSON.stringify(h.iomem)}`);
  t.log('\n' + f('list0.txt'));
  t.regex(f('list0.txt'), new RegExp(`^${e820.replace('.', '\\.')}\\s.*e820 \\(legacy pmem, memmap=\\)$`, 'm'));
  t.regex(f('list0.txt'), new RegExp(`^${hmem.replace('.', '\\.')}\\s.*hmem\\.\\d+ soft-reserved`, 'm'));
});

for (const kind of ['e820', 'hmem'] as const) {
  test(`${kind}: online Movable on node 0 (meminfo grows by exactly the blocks), offline back to devdax, zeroed`, (t) => {
    const d = names()[kind === 'e820' ? 0 : 1];
    t.is(f(`${d}.pre.rc`), '0', f(`${d}.pre.err`));
    t.regex(f(`${d}.pattern`), /^pattern 3$/);
    t.is(f(`${d}.on.rc`), '0', f(`${d}.on.err`));
    const on = r.readJson<J>(`${d}.on.json`);
    t.true(on.blocks.length >= 1);
    t.true(on.blocks.every((b: J) => b.state === 'online' && b.zone === 'Movable' && b.node === 0), JSON.stringify(on.blocks));
    const dc = r.readJson<J[]>(`${d}.daxctl-on.json`)[0];
    t.like(dc, {mode: 'system-ram', movable: true, online_memblocks: on.blocks.length, total_memblocks: on.blocks.length});
    t.is(r.readJson<J[]>(`${d}.list-on.json`)[0].online_memblocks, on.blocks.length);
    t.is(Number(f(`${d}.grew-kb`)) * 1024, on.bytes, 'node 0 MemTotal grew by exactly the blocks onlined');
    t.is(f(`${d}.off.rc`), '0', f(`${d}.off.err`));
    t.is(Number(f(`${d}.after-kb`)), 0);
    t.is(r.readJson<J[]>(`${d}.daxctl-off.json`)[0].mode, 'devdax');
    t.is(f(`${d}.zero`), 'zero', 'the pattern written before is gone');
    t.log(`${kind} ${d}: ${on.blocks.length} block(s), ${on.bytes} bytes`);
  });
}

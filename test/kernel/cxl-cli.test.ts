// cxl-cli v81 as the oracle and the anchor, in the Debian 13 root where it ships (Debian 12's v76
// cannot make a RAM region, nor list media errors): on the same two memdevs,
//   - `daxram list -C --media-errors` against `cxl list -M -R -D --media-errors`, field by field,
//     poison included (a memdev's records by DPA, a region's by offset from its start);
//   - `daxram provision mem0,mem1` against `cxl create-region -t ram` + `daxctl
//     reconfigure-device -m system-ram`: the same capacity, onlined Movable (both timed in the
//     same guest, the ratio logged);
//   - `daxram release` against `cxl destroy-region`: both leave the memdevs' capacity free.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';
import {CXL_CLI_VS_DAXRAM} from './cxl';

const test = kernelTest(anyTest, {kernels: ['6.12', 'newest'], why: 'CXL RAM regions need kernel >= 6.3 and QEMU >= 8.1', root: 'trixie'});

type J = Record<string, any>;
let r: GuestResult;
test.before(async () => {
  r = await runGuest({root: 'trixie', script: CXL_CLI_VS_DAXRAM, cxl: {memdevs: 2}, nvdimm: false, kernelArgs: ['memhp_default_state=offline'], timeoutMs: 600_000});
});
const f = (n: string) => r.readFile(n).trim();

test('daxram list -C --media-errors agrees with cxl list -M -R -D --media-errors (v81), poison included', (t) => {
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  t.is(f('cxl-version'), '81');
  t.is(f('ref-create.rc'), '0', f('ref-create.err'));
  const cx = r.readJson<J[]>('cxl-list.json');
  const ours = r.readJson<J>('dx-list.json').cxl;
  const group = (key: string): J[] => cx.flatMap((g) => g[key] ?? []);
  const memdevs = group('memdevs');
  t.is(memdevs.length, 2);
  for (const m of memdevs) {
    const o = ours.memdevs.find((x: J) => x.memdev === m.memdev);
    for (const k of ['memdev', 'ram_size', 'serial', 'host', 'media_errors']) t.deepEqual(o[k], m[k], `${m.memdev}.${k}`);
    t.is(m.media_errors.length, 1, `${m.memdev}: one injected unit`);
  }
  const root = group('root decoders')[0];
  const reg = root[`regions:${root.decoder}`][0];
  const ourReg = ours.regions.find((x: J) => x.region === reg.region);
  for (const k of ['region', 'resource', 'size', 'interleave_ways', 'interleave_granularity', 'decode_state', 'media_errors']) t.deepEqual(ourReg[k], reg[k], `region.${k}`);
  t.is(reg.media_errors.length, 2);
  const ourRoot = ours.root_decoders.find((x: J) => x.decoder === root.decoder);
  for (const k of ['decoder', 'resource', 'size', 'interleave_ways', 'pmem_capable', 'volatile_capable', 'nr_targets']) t.deepEqual(ourRoot[k], root[k], `root.${k}`);
  for (const [kind, ourKind] of [['port decoders', 'port_decoders'], ['endpoint decoders', 'endpoint_decoders']] as const) {
    for (const d of group(kind)) {
      const o = ours[ourKind].find((x: J) => x.decoder === d.decoder);
      for (const k of ['resource', 'size', 'interleave_ways', 'interleave_granularity', 'region', 'dpa_resource', 'dpa_size', 'mode', 'nr_targets']) {
        if (d[k] !== undefined) t.deepEqual(o[k], d[k], `${d.decoder}.${k}`);
      }
    }
  }
  // The device's POISON count is the region's records; without --media-errors nothing is asked.
  const dev = r.readJson<J>('dx-list.json').devices[0];
  t.is(dev.badblocks, 2);
  const plain = r.readJson<J>('dx-list-plain.json');
  t.false('badblocks' in plain.devices[0]);
  t.false('media_errors' in plain.cxl.memdevs[0]);
});

test('provision and release against cxl create-region + daxctl and cxl destroy-region: the same capacity Movable, the same free memdevs', (t) => {
  t.is(f('ref-online.rc'), '0', f('ref-online.err'));
  const ref = r.readJson<J[]>('ref-daxctl.json')[0];
  t.like(ref, {mode: 'system-ram', movable: true});
  t.is(ref.online_memblocks, ref.total_memblocks);
  t.is(f('ref-destroy.rc'), '0', f('ref-destroy.err'));
  t.is(f('ref-free'), 'regions=0 dpa=0');
  t.is(f('prov.rc'), '0', f('prov.err'));
  const ours = r.readJson<J[]>('prov-daxctl.json')[0];
  t.like(ours, {mode: 'system-ram', movable: true, online_memblocks: ref.online_memblocks, total_memblocks: ref.total_memblocks, size: ref.size});
  // cxl-cli prints one object, or an array of several.
  const region = ([] as J[]).concat(r.readJson<J | J[]>('prov-cxl.json')).find((x) => x.region === 'region0');
  t.like(region, {interleave_ways: 2, decode_state: 'commit', type: 'ram'});
  t.regex(f('rel-dry.txt'), /System RAM: offlined \(not zeroed: --no-zero\) first/);
  t.is(f('rel.rc'), '0', f('rel.err'));
  t.is(f('rel-free'), f('ref-free'));
  const ms = (n: string) => Number(f(n));
  t.log(`provision ${ms('prov-ms')} ms vs cxl create-region + daxctl ${ms('ref-ms')} ms (${(ms('prov-ms') / ms('ref-ms')).toFixed(2)}x); release --no-zero ${ms('rel-ms')} ms vs daxctl + cxl destroy-region ${ms('ref-release-ms')} ms`);
});

// Region layout: the arithmetic (data offsets as nd_pfn_init computes them, kmem's block
// rounding) and the dry-run plans of provision and reassign on fixtures.

import test from 'ava';
import {dataOffset, layoutRegion, describeLayout} from '../daemon/engine/nvdimm-layout';
import {provision, reassign, describePlan, online, type IntentHook} from '../daemon/engine';
import {PolicyError, UsageError} from '../daemon/errors';
import {GiB, MiB} from './helpers/fixture';
import {qemuSpec, testbed} from './helpers/engine-context';

const B = 128n * MiB;
const region = {start: 8n * GiB, size: 2n * GiB, align: 16n * MiB};

test('data offset matches what the kernel gave a 1 GiB map=dev namespace (18 MiB) and map=mem (2 MiB)', (t) => {
  t.is(dataOffset(8n * GiB, GiB, 'dev', 2n * MiB), 18n * MiB);
  t.is(dataOffset(8n * GiB, GiB, 'mem', 2n * MiB), 2n * MiB);
});

test('all-RAM layout reaches region size minus one block, for small and large regions', (t) => {
  for (const size of [1408n * MiB, 2n * GiB, 64n * GiB, 3n << 40n]) {
    const l = layoutRegion({...region, size}, B, undefined);
    t.is(l.ramBytes, size - B, `${size}`);
    t.is(l.namespaces.length, 1);
  }
  // Small: struct pages fit in the head block (map=dev); large: they do not (map=mem).
  t.is(layoutRegion(region, B, undefined).namespaces[0].map, 'dev');
  t.is(layoutRegion({...region, size: 64n * GiB}, B, undefined).namespaces[0].map, 'mem');
});

test('a region whose end is not block aligned (QEMU keeps its label area there): its whole blocks minus one', (t) => {
  const l = layoutRegion({...region, size: 2n * GiB - 128n * 1024n}, B, undefined);
  t.is(l.namespaces[0].size, 2n * GiB - 16n * MiB, 'namespace size is a multiple of the region align');
  t.is(l.ramBytes, 14n * B);
  t.is(l.target, 14n * B);
});

test('reassign layout: exactly the RAM asked (whole blocks), the rest one devdax namespace, namespaces tile the region', (t) => {
  for (const ram of [128n * MiB, 512n * MiB, GiB, 1792n * MiB]) {
    const l = layoutRegion(region, B, ram);
    t.is(l.ramBytes, ram, `${ram}`);
    const [r, d] = l.namespaces;
    t.is(r.start, region.start);
    t.is((r.start + r.size) % B, 0n, 'RAM data ends on a block boundary');
    t.is(r.size % region.align, 0n);
    if (d) {
      t.is(d.start, r.start + r.size);
      t.is(d.start + d.size, region.start + region.size);
    }
  }
  t.is(layoutRegion(region, B, 0n).namespaces[0].role, 'devdax');
});

test('three ndctl-default namespaces lose a block each; our layout explains why it does not', (t) => {
  const lines = describeLayout(layoutRegion({...region, size: 1408n * MiB}, B, undefined)).join('\n');
  t.regex(lines, /kmem onlines 10 block\(s\) = 1\.25 GiB/);
  t.regex(lines, /map=dev: its 24\.00 MiB of info block \+ struct pages fit in the 128\.00 MiB before the first block boundary/);
});

function emptyRegion() {
  const spec = qemuSpec();
  spec.buses![0].regions![0].namespaces = [];
  return spec;
}

test('provision --dry-run: layout explained, exact sysfs writes on the seeds, nothing written', async (t) => {
  const tb = testbed(emptyRegion(), {dryRun: true});
  t.teardown(tb.cleanup);
  const r = await provision(tb.ctx, 'region0');
  t.is(tb.k.writes.length, 0);
  t.is(r.layout.ramBytes, 2n * GiB - B);
  const text = describePlan(r.plan);
  t.regex(text, /kmem onlines 15 block\(s\)/);
  t.regex(text, /write "2147483648" > \/sys\/devices\/.*\/region0\/namespace0\.0\/size/);
  t.regex(text, /write "pmem" > \/sys\/devices\/.*\/region0\/dax0\.0\/mode/);
  t.regex(text, /write "dax0\.0" > \/sys\/bus\/nd\/drivers\/dax_pmem\/bind/);
  t.regex(text, /daxram online <dax device of the RAM namespace>/);
});

test('provision refuses a region that has namespaces; reassign plans to offline, destroy, re-create', async (t) => {
  const tb = testbed(qemuSpec({}, {driver: 'kmem', online: 'movable'}), {dryRun: true});
  t.teardown(tb.cleanup);
  await t.throwsAsync(provision(tb.ctx, 'region0'), {instanceOf: UsageError, message: /already has namespace/});
  const r = await reassign(tb.ctx, 'region0', 512n * MiB);
  const text = describePlan(r.plan);
  t.regex(text, /daxram offline dax0\.0/);
  t.regex(text, /write "\\n" > .*region0\/dax0\.0\/namespace/);
  t.regex(text, /write "0" > .*region0\/namespace0\.0\/size/);
  t.regex(text, /RAM: 512\.00 MiB/);
  t.is(tb.k.writes.length, 0);
  await t.throwsAsync(reassign(tb.ctx, 'region0', 4n * GiB), {instanceOf: UsageError, message: /larger than region0/});
  await t.throwsAsync(reassign(tb.ctx, 'regionX', GiB), {instanceOf: UsageError});
});

test('reassign/provision: gates the region already decides refuse before anything is destroyed; a dry run shows them', async (t) => {
  const cases: [Parameters<typeof testbed>[1], string][] = [
    [{serP: false}, 'GATE_MCE_RECOVERY'],
    [{policy: {reserved: ['region0']}}, 'GATE_RESERVED'],
  ];
  for (const [o, gate] of cases) {
    const tb = testbed(qemuSpec({}, {driver: 'kmem', online: 'movable'}), o);
    t.teardown(tb.cleanup);
    const e = await t.throwsAsync(reassign(tb.ctx, 'region0', 512n * MiB), {instanceOf: PolicyError});
    t.is((e as PolicyError).code, gate);
    t.is(tb.k.writes.length, 0, `${gate}: nothing offlined, destroyed or created`);
    if (gate === 'GATE_RESERVED') {
      // A reserved region is not re-laid out at all: its namespaces are kept.
      await t.throwsAsync(reassign({...tb.ctx, dryRun: true}, 'region0', 0n), {instanceOf: PolicyError, message: /would destroy namespace0\.0/});
    } else {
      // All devdax puts nothing on the allocator's path: no gate to pass.
      const zero = await reassign({...tb.ctx, dryRun: true}, 'region0', 0n);
      t.deepEqual(zero.plan.gates, []);
    }
  }
  const dry = testbed(emptyRegion(), {dryRun: true, serP: false});
  t.teardown(dry.cleanup);
  const r = await provision(dry.ctx, 'region0');
  t.deepEqual(r.plan.gates.map((g) => `${g.gate}:${g.verdict}`), ['reserved:pass', 'mce-recovery:refuse', 'dimm-security:warn']);
  t.regex(describePlan(r.plan), /refuse +mce-recovery/);
});

test('reassign --ram 0 over the same namespaces (after provision): the System RAM device is offlined, not left online', async (t) => {
  const all = layoutRegion(region, B, 0n);
  t.is(all.namespaces.length, 1, 'all devdax is one namespace of the same geometry provision makes');
  const spec = qemuSpec({}, {driver: 'kmem', online: 'movable'});
  spec.buses![0].regions![0].namespaces![0].size = all.namespaces[0].size;
  const tb = testbed(spec, {dryRun: true});
  t.teardown(tb.cleanup);
  const r = await reassign(tb.ctx, 'region0', 0n);
  const text = describePlan(r.plan);
  t.regex(text, /already has this layout/);
  t.regex(text, /daxram offline dax0\.0/);
  t.notRegex(text, /write "0" > .*namespace0\.0\/size/, 'nothing destroyed');
  // Asking for all RAM over the same namespaces has nothing to offline.
  const back = await reassign(tb.ctx, 'region0', 2n * GiB - B);
  t.notRegex(describePlan(back.plan), /daxram offline/);
});

test('reassign never destroys a reserved namespace: by device, namespace uuid or info-block uuid', async (t) => {
  const uuids = (tb: ReturnType<typeof testbed>) => {
    const rdir = tb.ctx.sysfs.real('/sys/bus/nd/devices/region0');
    return [tb.ctx.sysfs.read(`${rdir}/namespace0.0/uuid`).trim(), tb.ctx.sysfs.read(`${rdir}/dax0.0/uuid`).trim()];
  };
  const probe = testbed();
  t.teardown(probe.cleanup);
  for (const entry of ['dax0.0', ...uuids(probe).map((u) => u.toUpperCase())]) {
    const tb = testbed(qemuSpec(), {policy: {reserved: [entry]}});
    t.teardown(tb.cleanup);
    const e = await t.throwsAsync(reassign(tb.ctx, 'region0', 0n), {instanceOf: PolicyError});
    t.is((e as PolicyError).code, 'GATE_RESERVED', entry);
    t.regex(e!.message, /would destroy namespace0\.0 \(dax0\.0\), which is reserved/);
    t.is(tb.k.writes.length, 0);
    // And it is never onlined, whichever of its names the reservation uses.
    await t.throwsAsync(online(tb.ctx, 'dax0.0'), {instanceOf: PolicyError, message: /reserved/});
    t.is(tb.k.writes.length, 0);
  }
});

test('errors before the first write record no decision: a gate refusal, a bad size, a provision over namespaces', async (t) => {
  const calls: string[] = [];
  const hook: IntentHook = {record: (d, s) => void calls.push(`record ${d.action} ${s.kind}`), confirm: () => void calls.push('confirm'), abandon: () => void calls.push('abandon')};
  const decision = {action: 'reassign', zone: 'movable', online: true} as const;
  const tb = testbed(qemuSpec({}, {driver: 'kmem', online: 'movable'}), {serP: false});
  t.teardown(tb.cleanup);
  tb.ctx.intent = hook;
  await t.throwsAsync(reassign(tb.ctx, 'region0', 512n * MiB, {decision}), {instanceOf: PolicyError});
  const ok = testbed(qemuSpec({}, {driver: 'kmem', online: 'movable'}));
  t.teardown(ok.cleanup);
  ok.ctx.intent = hook;
  await t.throwsAsync(reassign(ok.ctx, 'region0', 4n * GiB, {decision}), {instanceOf: UsageError});
  await t.throwsAsync(provision(ok.ctx, 'region0', {decision: {...decision, action: 'provision'}}), {instanceOf: UsageError});
  t.is(ok.k.writes.length + tb.k.writes.length, 0);
  t.deepEqual(calls, []);
});

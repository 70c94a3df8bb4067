// What the fleet sees: daxramd's node-feature-discovery labels (written whole after a reconcile,
// only where NFD's directory exists, every name and value a valid Kubernetes label) and the
// examples the package ships for Prometheus, Grafana and NFD, checked against the metrics and
// labels daxramd really emits (promtool where it is installed; CI installs it).

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {load} from 'js-yaml';
import {Metrics} from '../daemon/daxramd/metrics';
import {nodeFeatures} from '../daemon/daxramd/nfd';
import {driver} from './helpers/engine-context';
import {daemonBed} from './helpers/daemon';
import {DeviceBlocks} from '../daemon/model/memblock';
import type {MemBlock} from '../daemon/model/types';

const EXAMPLES = path.resolve(__dirname, '..', '..', 'docs/examples');
const LABEL_NAME = /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function daemonWith(conf: string, nfdFeatures: string) {
  return daemonBed(conf, {nfdFeatures});
}

test('daxramd writes NFD labels after a reconcile: managed RAM, tier, CXL, poison, zone balance, state', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-nfd-'));
  const file = path.join(dir, 'daxram');
  const s = daemonWith('[daemon]\nunmatched = ram\n', file);
  t.teardown(() => { s.cleanup(); fs.rmSync(dir, {recursive: true, force: true}); });
  await s.d.start();
  t.is(driver(s.tb.k), 'kmem');
  const text = fs.readFileSync(file, 'utf8');
  const labels = new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('=') as [string, string]));
  for (const [k, v] of labels) {
    t.regex(k, LABEL_NAME, k);
    t.regex(v, LABEL_VALUE, `${k}=${v}`);
  }
  t.is(labels.get('daxram-ram-mib'), '896', '7 blocks of 128 MiB online');
  t.is(labels.get('daxram-devdax-mib'), '0');
  t.is(labels.get('daxram-cxl'), 'false');
  t.is(labels.get('daxram-poison'), 'clean');
  t.is(labels.get('daxram-state'), 'ok');
  t.is(labels.get('daxram-zone-balance'), 'within');
  t.regex(labels.get('daxram-movable-kernel') ?? '', /^0\.\d\d$/);
  t.is((fs.statSync(file).mode & 0o777), 0o644, 'nfd-worker reads it');
  t.deepEqual(fs.readdirSync(dir), ['daxram'], 'written in place atomically: no temp file left');
});

test('no NFD directory: nothing is created, nothing is said', async (t) => {
  const dir = path.join(os.tmpdir(), `daxram-no-nfd-${process.pid}`);
  const s = daemonWith('[daemon]\nunmatched = ram\n', path.join(dir, 'features.d', 'daxram'));
  t.teardown(s.cleanup);
  await s.d.start();
  t.false(fs.existsSync(dir));
  t.false(s.lines.some((l) => /node features/.test(l)), s.lines.join(''));
});

test('labels from facts: tiers, devdax, poison isolated, zone balance over, held', (t) => {
  const dev = (name: string, mode: string, node: number, online: number) => ({name, mode, targetNode: node, size: 1n << 30n, kmemBlocks: 8, kmemCapacity: 1n << 30n, memblocks: DeviceBlocks.of(Array.from({length: 8}, (_, i) => ({id: i, state: i < online ? 'online' : 'offline'}) as MemBlock))}) as never;
  const l = nodeFeatures({
    devices: [dev('dax0.0', 'system-ram', 1, 8), dev('dax1.0', 'system-ram', 2, 4), dev('dax2.0', 'devdax', 2, 0), dev('dax3.0', 'system-ram', 3, 8)],
    managed: (d) => d.name !== 'dax3.0',
    tiers: [{id: 4, nodes: [0]}, {id: 22, nodes: [1, 2]}],
    zones: [{node: 0, movable: 0n, kernel: 1n << 30n, cpus: true}, {node: 1, movable: 4n << 30n, kernel: 0n, cpus: false}],
    cxlMemdevs: 2,
    isolatedPages: 3,
    state: 'held',
  });
  t.is(l.get('daxram-ram-mib'), '1536', 'managed only: 1 GiB + 512 MiB');
  t.is(l.get('daxram-ram-tier22-mib'), '1536');
  t.is(l.get('daxram-devdax-mib'), '1024');
  t.is(l.get('daxram-cxl'), 'true');
  t.is(l.get('daxram-poison'), 'isolated');
  t.is(l.get('daxram-poison-isolated-pages'), '3');
  t.is(l.get('daxram-movable-kernel'), '4.0');
  t.is(l.get('daxram-zone-balance'), 'over');
  t.is(l.get('daxram-state'), 'held');
});

/** Metric names daxramd writes (the HELP lines of a rendered file). */
function emittedMetrics(): Set<string> {
  const m = new Metrics();
  // The tiering switches are written on kernels that have them, the work while it runs.
  m.demotion = false;
  m.promotion = false;
  m.work = {device: 'dax0.0', what: 'online', done: 0, total: 1};
  return new Set([...m.render().matchAll(/^# HELP (\S+)/gm)].map((x) => x[1]));
}

test('the Prometheus alert rules parse, name only metrics daxramd writes, and pass promtool', (t) => {
  const file = path.join(EXAMPLES, 'prometheus-alerts.yaml');
  const doc = load(fs.readFileSync(file, 'utf8')) as {groups: Array<{name: string; rules: Array<Record<string, unknown>>}>};
  const metrics = emittedMetrics();
  const rules = doc.groups.flatMap((g) => g.rules);
  t.true(rules.length >= 4);
  for (const r of rules) {
    t.regex(String(r.alert), /^Daxram[A-Za-z]+$/);
    const used = [...String(r.expr).matchAll(/\b(daxram_[a-z_]+)/g)].map((m) => m[1]);
    t.true(used.length > 0, String(r.alert));
    for (const m of used) t.true(metrics.has(m), `${r.alert}: ${m} is not a metric daxramd writes`);
    t.truthy((r.annotations as Record<string, string>)?.summary, String(r.alert));
  }
  const promtool = spawnSync('promtool', ['check', 'rules', file], {encoding: 'utf8'});
  if (promtool.error && process.env.CI !== 'true') {
    t.log('promtool is not installed here: checked by the schema above only (CI installs it)');
    return;
  }
  t.falsy(promtool.error, 'promtool must be installed under CI (test/kernel/install-lab.sh)');
  t.is(promtool.status, 0, promtool.stdout + promtool.stderr);
  t.regex(promtool.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

test('the Grafana dashboard is JSON whose every query names metrics daxramd writes', (t) => {
  const d = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'grafana-dashboard.json'), 'utf8'));
  const metrics = emittedMetrics();
  const ids = new Set<number>();
  for (const p of d.panels) {
    t.false(ids.has(p.id), `panel id ${p.id} once`);
    ids.add(p.id);
    for (const q of p.targets) for (const m of q.expr.matchAll(/\b(daxram_[a-z_]+)/g)) t.true(metrics.has(m[1]), `${p.title}: ${m[1]}`);
  }
  t.true(d.panels.length >= 6);
});

test('the NodeFeatureRule matches labels daxramd writes', (t) => {
  const r = load(fs.readFileSync(path.join(EXAMPLES, 'nfd-nodefeaturerule.yaml'), 'utf8')) as {kind: string; spec: {rules: Array<{matchFeatures: Array<{feature: string; matchExpressions: Record<string, unknown>}>}>}};
  t.is(r.kind, 'NodeFeatureRule');
  const emitted = nodeFeatures({devices: [], managed: () => true, tiers: [], zones: [{node: 0, movable: 0n, kernel: 1n, cpus: true}], cxlMemdevs: 0, isolatedPages: 0, state: 'ok'});
  for (const rule of r.spec.rules) {
    for (const mf of rule.matchFeatures) {
      t.is(mf.feature, 'local.label');
      for (const k of Object.keys(mf.matchExpressions)) t.true(emitted.has(k), k);
    }
  }
});

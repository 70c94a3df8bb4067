// The runtime RAS loop (daemon/daxramd/ras.ts) over CXL media-error events: the trace lines as
// the 7.3 kernel printed them in the lab (QMP cxl-inject-general-media-event), parsed; what
// daxramd does for each severity, for memory it manages and for memory it does not.
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Writable} from 'node:stream';
import {mediaSeverity, parseMediaEvent} from '../daemon/model/cxl/events';
import {traceFields} from '../daemon/tracefs';
import {RAS_FILE, RasLoop} from '../daemon/daxramd/ras';
import {Metrics} from '../daemon/daxramd/metrics';
import {DaemonLog} from '../daemon/daxramd/log';
import {Sysfs} from '../daemon/sysfs';
import type {IsolateHow} from '../daemon/engine';
import type {Range} from '../daemon/util/ranges';

const GM = ` irq/33-0000:0d:-137     [000] .....    10.618768: cxl_general_media: memdev=mem0 host=0000:0d:00.0 serial=4096 log=Failure : time=1796316656489409145 uuid=fbcd0a77-c260-417f-85a9-088b1621eba6 len=128 flags='0x1' handle=1 related_handle=0 maint_op_class=0 maint_op_sub_class=0 ld_id=0 head_id=0 : dpa=1000 dpa_flags='' descriptor='UNCORRECTABLE_EVENT|THRESHOLD_EVENT' type='ECC Error' sub_type='Not Reported' transaction_type='Host Read' channel=0 rank=0 device=0 validity_flags='' comp_id=00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 comp_id_pldm_valid_flags='' pldm_entity_id=0x00 pldm_resource_id=0x00 hpa=590001000 hpa_alias0=ffffffffffffffff region=region0 region_uuid=00000000-0000-0000-0000-000000000000 cme_threshold_ev_flags='' cme_count=0`;

test('a general-media event line: memdev, log, DPA and the HPA the kernel decoded (bare hex), descriptor flags, quoted values whole', (t) => {
  const ev = parseMediaEvent(GM)!;
  t.like(ev, {event: 'cxl_general_media', memdev: 'mem0', log: 'Failure', dpa: 0x1000n, hpa: 0x590001000n, region: 'region0', type: 'ECC Error'});
  t.deepEqual(ev.descriptor, ['UNCORRECTABLE_EVENT', 'THRESHOLD_EVENT']);
  t.is(mediaSeverity(ev), 'uncorrectable');
  t.is(traceFields(GM, 'cxl_general_media')?.transaction_type, 'Host Read');
  const threshold = parseMediaEvent(GM.replace("'UNCORRECTABLE_EVENT|THRESHOLD_EVENT'", "'THRESHOLD_EVENT'"))!;
  t.is(mediaSeverity(threshold), 'threshold');
  t.is(mediaSeverity(parseMediaEvent(GM.replace("'UNCORRECTABLE_EVENT|THRESHOLD_EVENT'", "''"))!), 'informational');
  // Not mapped by a region: no HPA.
  const unmapped = parseMediaEvent(GM.replace('hpa=590001000', 'hpa=ffffffffffffffff').replace('region=region0', 'region='))!;
  t.is(unmapped.hpa, undefined);
  t.like(parseMediaEvent(GM.replace('cxl_general_media:', 'cxl_dram:')), {event: 'cxl_dram', dpa: 0x1000n});
  t.is(parseMediaEvent('   kworker: sched_switch: prev=a next=b'), undefined);
  t.is(parseMediaEvent(GM.replace('dpa=1000', 'dpa=zz')), undefined, 'a garbled address is no event');
});

function loop(managed: Record<string, Range>, stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-ras-')), mediaErrors: 'offline' | 'report' = 'offline') {
  const calls: Array<{device: string; ranges: Range[]; how: IsolateHow}> = [];
  const lines: string[] = [];
  const metrics = new Metrics();
  const r = new RasLoop({
    sysfs: new Sysfs('/nonexistent'),
    stateDir,
    managedRamAt: (hpa) => Object.entries(managed).find(([, x]) => hpa >= x.start && hpa < x.start + x.size)?.[0],
    isolate: async (device, ranges, how) => {
      calls.push({device, ranges, how});
      return {pages: 1};
    },
    mediaErrors: () => mediaErrors,
    metrics,
    log: new DaemonLog({journal: true, level: 'debug', stream: new Writable({write(c, _e, cb) { lines.push(String(c)); cb(); }})}),
  });
  return {r, calls, lines, metrics, stateDir};
}

test('uncorrectable in managed RAM: the page hard-offlined; a threshold: soft-offlined; counted in STATUS and metrics', async (t) => {
  const {r, calls, metrics} = loop({'dax0.0': {start: 0x590000000n, size: 0x20000000n}});
  t.is(await r.handle(parseMediaEvent(GM.replace('hpa=590001000', 'hpa=590001040'))!), 'hard-offline');
  t.is(await r.handle(parseMediaEvent(GM.replace("'UNCORRECTABLE_EVENT|THRESHOLD_EVENT'", "'THRESHOLD_EVENT'").replace('hpa=590001000', 'hpa=590002000'))!), 'soft-offline');
  t.deepEqual(calls, [
    {device: 'dax0.0', ranges: [{start: 0x590001000n, size: 4096n}], how: 'hard'},
    {device: 'dax0.0', ranges: [{start: 0x590002000n, size: 4096n}], how: 'soft'},
  ]);
  t.deepEqual(r.seen, {events: 2, hard: 1, soft: 1});
  t.regex(r.summary()!, /2 event\(s\); page\(s\) hard-offlined 1, soft-offlined 1/);
  const prom = metrics.render();
  t.regex(prom, /^daxram_cxl_media_events_total\{action="hard-offline",memdev="mem0",severity="uncorrectable"\} 1$/m);
  t.regex(prom, /^daxram_pages_soft_offlined_total\{device="dax0.0"\} 1$/m);
  t.regex(prom, /^daxram_poison_isolated_pages_total\{device="dax0.0"\} 1$/m);
});

test('media-errors = report: both kinds logged and counted, the pages left in use', async (t) => {
  const {r, calls, lines, metrics} = loop({'dax0.0': {start: 0x590000000n, size: 0x20000000n}}, undefined, 'report');
  t.is(await r.handle(parseMediaEvent(GM)!), 'reported');
  t.is(await r.handle(parseMediaEvent(GM.replace("'UNCORRECTABLE_EVENT|THRESHOLD_EVENT'", "'THRESHOLD_EVENT'"))!), 'reported');
  t.deepEqual(calls, [], 'nothing offlined');
  t.deepEqual(r.seen, {events: 2, hard: 0, soft: 0});
  t.true(lines.some((l) => /^<4>mem0: .*page 0x590001000 of dax0\.0 left in use \(media-errors = report; media-errors = offline would hard-offline it\)/.test(l)));
  t.regex(metrics.render(), /action="reported",memdev="mem0",severity="uncorrectable"\} 1/);
});

test('memory daxramd does not manage, or no region: nothing changed, the event counted and logged', async (t) => {
  const {r, calls, lines, metrics} = loop({'dax1.0': {start: 0x800000000n, size: 0x10000000n}});
  t.is(await r.handle(parseMediaEvent(GM)!), 'not-managed');
  t.is(await r.handle(parseMediaEvent(GM.replace('hpa=590001000', 'hpa=ffffffffffffffff'))!), 'unmapped');
  t.deepEqual(calls, []);
  t.true(lines.some((l) => /^<4>mem0: cxl_general_media Failure DPA 0x1000 = HPA 0x590001000 \(region0\).*left to the kernel and rasdaemon/.test(l)));
  t.regex(metrics.render(), /action="not-managed",memdev="mem0",severity="uncorrectable"\} 1/);
});

test('a failed offline is counted as a failure of the device and said, and the loop goes on', async (t) => {
  const {r, metrics, lines} = loop({'dax0.0': {start: 0x590000000n, size: 0x20000000n}});
  (r as unknown as {d: {isolate: () => Promise<never>}}).d.isolate = async () => {
    throw new Error('soft_offline_page 0x590001000 failed (EIO)');
  };
  t.is(await r.handle(parseMediaEvent(GM)!), 'failed');
  t.regex(metrics.render(), /daxram_failures_total\{device="dax0.0",operation="hard-offline"\} 1/);
  t.true(lines.some((l) => /^<3>mem0: .*could not hard-offline page 0x590001000 of dax0.0/.test(l)));
});

test('the counts outlive a restart (ras.json in the state directory); a broken file is said and they start again', async (t) => {
  const a = loop({'dax0.0': {start: 0x590000000n, size: 0x20000000n}});
  t.teardown(() => fs.rmSync(a.stateDir, {recursive: true, force: true}));
  await a.r.handle(parseMediaEvent(GM)!);
  const b = loop({}, a.stateDir);
  t.deepEqual(b.r.seen, {events: 1, hard: 1, soft: 0});
  fs.writeFileSync(path.join(a.stateDir, RAS_FILE), '{"events": -1');
  const c = loop({}, a.stateDir);
  t.deepEqual(c.r.seen, {events: 0, hard: 0, soft: 0});
  t.true(c.lines.some((l) => /^<4>.*ras\.json unreadable .*media-error counts start again/.test(l)));
});

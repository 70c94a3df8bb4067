// The daemon's log lines: syslog priority prefixes for journald when JOURNAL_STREAM is set, one
// per line of a multi-line message; plain timestamped lines otherwise; device first.
import test from 'ava';
import {Writable} from 'node:stream';
import {DaemonLog} from '../daemon/daxramd/log';

function capture(journal: boolean, level?: 'info' | 'debug') {
  const out: string[] = [];
  const stream = new Writable({write(c, _e, cb) { out.push(String(c)); cb(); }});
  return {log: new DaemonLog({journal, stream, level}), out};
}

test('journal mode: <3> <4> <5> <6> prefixes, device first, debug filtered at info', (t) => {
  const {log, out} = capture(true);
  log.error('bind failed', 'dax0.0');
  log.warn('poison at 0x1000');
  log.notice('System RAM', 'dax0.0');
  log.info('two\nlines');
  log.debug('hidden');
  t.deepEqual(out.map((l) => l.trimEnd()), ['<3>dax0.0: bind failed', '<4>poison at 0x1000', '<5>dax0.0: System RAM', '<6>two\n<6>lines']);
});

test('plain mode: timestamp and level, no prefixes', (t) => {
  const {log, out} = capture(false, 'debug');
  log.debug('scan', 'dax1.0');
  t.regex(out[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z debug: dax1.0: scan\n?$/);
});

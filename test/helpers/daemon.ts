// A daxramd over the fixture for unit tests: its config in a temp directory, its journal lines
// captured, the engine context of a testbed, one pass (--once).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Writable} from 'node:stream';
import {Daemon, type DaemonOptions} from '../../daemon/daxramd/daemon';
import {DaemonLog} from '../../daemon/daxramd/log';
import {qemuSpec, testbed, type EngineTestbed} from './engine-context';

export interface DaemonBed {
  tb: EngineTestbed;
  etc: string;
  lines: string[];
  d: Daemon;
  /** Another daxramd over the same bed (a restart), logging to the same lines. */
  mk(): Daemon;
  cleanup(): void;
}

export function daemonBed(conf: string, over: Partial<DaemonOptions> = {}): DaemonBed {
  const tb = testbed(qemuSpec());
  const etc = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-daemon-'));
  fs.writeFileSync(path.join(etc, 'daxram.conf'), conf);
  const lines: string[] = [];
  const stream = new Writable({write(c, _e, cb) { lines.push(String(c)); cb(); }});
  const mk = () =>
    new Daemon(
      {paths: {etcDir: etc}, stateDir: tb.ctx.stateDir, lockPath: tb.ctx.lockPath, socketPath: path.join(etc, 'sock'), root: tb.k.root, sysfs: tb.k, engineContext: () => tb.ctx, once: true, ...over},
      new DaemonLog({journal: true, stream, level: 'debug'}),
    );
  return {tb, etc, lines, d: mk(), mk, cleanup: () => { tb.cleanup(); fs.rmSync(etc, {recursive: true, force: true}); }};
}

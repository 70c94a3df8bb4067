// daxramd idle: started on a fixture tree (reading it, managing nothing), then left alone for
// `seconds`; its RSS and the CPU it used meanwhile, from /proc/PID/status and /proc/PID/stat.
// The anchor is a bare `node` process kept alive the same way, measured the same way in the
// same run.

import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {cpuMsOf} from './stats';

const DAEMON = path.join(__dirname, '..', '..', 'bin', 'daxramd');
const UNIT = path.join(__dirname, '..', '..', 'systemd', 'daxramd.service');

/** The node options daxramd runs with under its unit (Environment=NODE_OPTIONS=): measured as it runs. */
export function unitNodeOptions(unit = fs.readFileSync(UNIT, 'utf8')): string[] {
  const m = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit);
  return m ? m[1].trim().split(/\s+/) : [];
}

export interface IdleResult {
  seconds: number;
  rssKiB: number;
  hwmKiB: number;
  cpuMs: number;
  anchorRssKiB: number;
  anchorCpuMs: number;
}

function status(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function cpuMs(pid: number): number {
  return cpuMsOf(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), 'own');
}

function waitFor(child: ChildProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms: ${buf.slice(-2000)}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (c) => reject(new Error(`exited ${c} before ${re}: ${buf.slice(-2000)}`)));
  });
}

async function sampleIdle(child: ChildProcess, seconds: number): Promise<{rss: number; hwm: number; cpu: number}> {
  const pid = child.pid!;
  const cpu0 = cpuMs(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return {rss: status(pid, 'VmRSS'), hwm: status(pid, 'VmHWM'), cpu: cpuMs(pid) - cpu0};
}

export async function idleDaemon(root: string, seconds: number): Promise<IdleResult> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-idle-'));
  const etc = path.join(tmp, 'etc');
  fs.mkdirSync(etc);
  const d = spawn(
    process.execPath,
    [...unitNodeOptions(), DAEMON, '--root', root, '--config-dir', etc, '--daxctl-dir', '', '--state-dir', path.join(tmp, 'state'), '--socket', path.join(tmp, 'run', 'sock'), '--lock', path.join(tmp, 'run', 'lock'), '--metrics-dir', path.join(tmp, 'none')],
    {stdio: ['ignore', 'pipe', 'inherit']},
  );
  const anchor = spawn(process.execPath, ['-e', "setInterval(() => {}, 1 << 30); console.log('ready')"], {stdio: ['ignore', 'pipe', 'inherit']});
  try {
    await Promise.all([waitFor(d, /ready: /, 120_000), waitFor(anchor, /ready/, 10_000)]);
    const [a, b] = await Promise.all([sampleIdle(d, seconds), sampleIdle(anchor, seconds)]);
    return {seconds, rssKiB: a.rss, hwmKiB: a.hwm, cpuMs: a.cpu, anchorRssKiB: b.rss, anchorCpuMs: b.cpu};
  } finally {
    d.kill('SIGTERM');
    anchor.kill('SIGKILL');
    fs.rmSync(tmp, {recursive: true, force: true});
  }
}

// Small host-side helpers of the kernel lab (no shell anywhere: argv arrays only).
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Run argv (never through a shell); resolve with stdout+stderr, reject on non-zero exit. */
export function run(argv: string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe']});
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks).toString('utf8');
      if (code === 0) resolve(out);
      else reject(new Error(`${argv.join(' ')} failed (${signal ?? code}):\n${tail(out, 40)}`));
    });
  });
}

export function tail(text: string, lines: number): string {
  const all = text.replace(/\r/g, '').split('\n');
  while (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all.slice(-lines).join('\n');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What /proc says of a pid: 'running' (any live state), 'zombie' (exited, not reaped) or 'gone'. */
export function processState(pid: number, startTime?: string): 'running' | 'zombie' | 'gone' {
  const fields = statFields(pid);
  if (!fields) return 'gone';
  if (startTime !== undefined && fields[19] !== startTime) return 'gone'; // the pid was reused
  return fields[0] === 'Z' || fields[0] === 'X' ? 'zombie' : 'running';
}

/** A process's start time (clock ticks since boot), to tell it from a later one with its pid. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** /proc/PID/stat's fields after the command (which may hold spaces and parentheses): state first. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A live process (kill(pid, 0) also succeeds on a zombie, which holds nothing). */
export function pidAlive(pid: number): boolean {
  return processState(pid) === 'running';
}

/**
 * Cross-process lock (a directory created atomically, holding the owner's pid). Two ava
 * workers (threads of one process, or separate processes) building the lab at once
 * serialise here; a lock left behind by a dead process is taken over.
 */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  fs.mkdirSync(path.dirname(lockDir), {recursive: true});
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(lockDir, 'pid'), 'utf8'));
      } catch { /* being created or removed */ }
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lockDir).mtimeMs;
      } catch { /* gone */ }
      if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || (Number.isNaN(owner) && age > 60_000)) {
        fs.rmSync(lockDir, {recursive: true, force: true});
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir} (held by pid ${owner})`);
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, {recursive: true, force: true});
  }
}


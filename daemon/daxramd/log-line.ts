// One log line as daxramd writes it. Under systemd (JOURNAL_STREAM set) stdout is a journal
// stream, so each line carries a syslog priority prefix (<3> error, <4> warning, <5> notice,
// <6> info, <7> debug) and no timestamp, and journalctl -p works. Elsewhere: plain timestamped
// lines. Every line about a device starts with the device name, as the kernel does.
// DaemonLog (log.ts) formats through it; the boot guard, which logs a line or two and exits,
// writes with LineLog and does not load winston.

import * as fs from 'node:fs';

export type Level = 'error' | 'warning' | 'notice' | 'info' | 'debug';

export const PRIORITY: Record<Level, number> = {error: 3, warning: 4, notice: 5, info: 6, debug: 7};

export function formatLine(level: Level, message: string, device: string | undefined, journal: boolean, timestamp?: string): string {
  const msg = `${device ? `${device}: ` : ''}${message}`;
  // journald splits a stream on newlines: every line needs its own prefix.
  if (journal) return msg.split('\n').map((l) => `<${PRIORITY[level] ?? 6}>${l}`).join('\n');
  return `${timestamp ?? new Date().toISOString()} ${level}: ${msg}`;
}

/** Lines written synchronously to a file descriptor (stdout): nothing to flush before exit. */
export class LineLog {
  constructor(private readonly fd = 1, private readonly journal = Boolean(process.env.JOURNAL_STREAM), private readonly level: Level = 'info') {}

  private write(level: Level, msg: string, device?: string): void {
    if (PRIORITY[level] > PRIORITY[this.level]) return;
    try {
      fs.writeSync(this.fd, `${formatLine(level, msg, device, this.journal)}\n`);
    } catch {
      /* a closed stdout must not turn a log line into a failed hold */
    }
  }

  error(msg: string, device?: string): void {
    this.write('error', msg, device);
  }
  warn(msg: string, device?: string): void {
    this.write('warning', msg, device);
  }
  notice(msg: string, device?: string): void {
    this.write('notice', msg, device);
  }
  info(msg: string, device?: string): void {
    this.write('info', msg, device);
  }
}

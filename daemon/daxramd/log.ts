// Daemon logging (winston). Under systemd (JOURNAL_STREAM set) stdout is a journal stream, so
// each line carries a syslog priority prefix (<3> error, <4> warning, <5> notice, <6> info,
// <7> debug) and no timestamp, and journalctl -p works. Elsewhere: plain timestamped lines.
// Every line about a device starts with the device name, as the kernel does.

import {Writable} from 'node:stream';
import * as winston from 'winston';

export type Level = 'error' | 'warning' | 'notice' | 'info' | 'debug';

export const PRIORITY: Record<Level, number> = {error: 3, warning: 4, notice: 5, info: 6, debug: 7};

export interface LogOptions {
  level?: Level;
  /** Journal prefixes; defaults to whether JOURNAL_STREAM is set. */
  journal?: boolean;
  stream?: Writable;
}

/** The logger the daemon and the engine share; also satisfies the engine's Logger. */
export class DaemonLog {
  readonly w: winston.Logger;
  readonly journal: boolean;

  constructor(opts: LogOptions = {}) {
    this.journal = opts.journal ?? Boolean(process.env.JOURNAL_STREAM);
    const journal = this.journal;
    const line = winston.format.printf((info) => {
      const dev = typeof info.device === 'string' && info.device ? `${info.device}: ` : '';
      const msg = `${dev}${String(info.message)}`;
      if (journal) {
        const p = PRIORITY[info.level as Level] ?? 6;
        // journald splits a stream on newlines: every line needs its own prefix.
        return msg.split('\n').map((l) => `<${p}>${l}`).join('\n');
      }
      return `${String(info.timestamp)} ${info.level}: ${msg}`;
    });
    this.w = winston.createLogger({
      levels: winston.config.syslog.levels,
      level: opts.level ?? 'info',
      format: journal ? line : winston.format.combine(winston.format.timestamp(), line),
      transports: [new winston.transports.Stream({stream: opts.stream ?? process.stdout})],
    });
  }

  setLevel(level: Level): void {
    this.w.level = level;
  }

  error(msg: string, device?: string): void {
    this.w.log('error', msg, {device});
  }
  warn(msg: string, device?: string): void {
    this.w.log('warning', msg, {device});
  }
  notice(msg: string, device?: string): void {
    this.w.log('notice', msg, {device});
  }
  info(msg: string, device?: string): void {
    this.w.log('info', msg, {device});
  }
  debug(msg: string, device?: string): void {
    this.w.log('debug', msg, {device});
  }

  /** Exit once everything logged so far has reached the stream. */
  flushThenExit(code: number): void {
    void this.flush().then(() => process.exit(code));
    // A stuck stream must not keep a stopping daemon alive.
    setTimeout(() => process.exit(code), 2000).unref();
  }

  /** Resolve once everything logged so far has reached the stream. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.w.on('finish', () => resolve());
      this.w.end();
    });
  }
}

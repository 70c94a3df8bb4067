// Daemon logging (winston), in the line format of log-line.ts (journal priority prefixes under
// systemd, timestamps elsewhere).

import {Writable} from 'node:stream';
import * as winston from 'winston';
import {formatLine, type Level} from './log-line';

export {PRIORITY, type Level} from './log-line';

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
    const line = winston.format.printf((info) =>
      formatLine(info.level as Level, String(info.message), typeof info.device === 'string' && info.device ? info.device : undefined, journal, info.timestamp === undefined ? undefined : String(info.timestamp)),
    );
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

// sd_notify(3) for a Type=notify service: READY=1 once boot-time devices are settled, STATUS=
// a one-line summary, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on the way out. The
// datagram itself goes through the addon (native/notify.cc): Node cannot send on AF_UNIX
// datagram sockets. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.

import {DaemonNative, loadNative} from '../native';

export interface NotifyNative {
  sdNotify(socketPath: string, message: string): void;
}

export class Notifier {
  readonly socketPath?: string;
  private watchdogTimer?: NodeJS.Timeout;
  lastStatus?: string;

  constructor(
    private readonly native: NotifyNative | undefined,
    env: NodeJS.ProcessEnv = process.env,
    private readonly onError: (e: unknown) => void = () => {},
  ) {
    const s = env.NOTIFY_SOCKET;
    this.socketPath = s && (s.startsWith('/') || s.startsWith('@')) ? s : undefined;
    this.watchdogUsec = watchdogInterval(env);
  }

  /** Microseconds between WATCHDOG=1 pings systemd expects (undefined: no watchdog for us). */
  readonly watchdogUsec?: number;

  get enabled(): boolean {
    return this.socketPath !== undefined && this.native !== undefined;
  }

  /** Send newline-separated assignments; false when not under systemd or the send failed. */
  send(...assignments: string[]): boolean {
    if (!this.enabled) return false;
    try {
      this.native!.sdNotify(this.socketPath!, assignments.join('\n'));
      return true;
    } catch (e) {
      this.onError(e);
      return false;
    }
  }

  ready(status: string): boolean {
    this.lastStatus = status;
    return this.send('READY=1', `STATUS=${oneLine(status)}`, `MAINPID=${process.pid}`);
  }

  status(status: string): boolean {
    if (status === this.lastStatus) return true;
    this.lastStatus = status;
    return this.send(`STATUS=${oneLine(status)}`);
  }

  stopping(status = 'stopping'): boolean {
    this.stopWatchdog();
    return this.send('STOPPING=1', `STATUS=${oneLine(status)}`);
  }

  /** Ping at half the watchdog interval, as sd_watchdog_enabled(3) advises. */
  startWatchdog(): void {
    if (!this.enabled || this.watchdogUsec === undefined || this.watchdogTimer) return;
    const ms = Math.max(1, Math.floor(this.watchdogUsec / 2000));
    this.send('WATCHDOG=1');
    this.watchdogTimer = setInterval(() => this.send('WATCHDOG=1'), ms);
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }
}

/** WATCHDOG_USEC when it is meant for this process (WATCHDOG_PID absent or ours). */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^[0-9]+$/.test(usec) || Number(usec) === 0) return undefined;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Number(usec);
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 400);
}

/** The addon's daemon functions (native/notify.cc), loaded once. */
export function loadDaemonNative(): DaemonNative {
  return loadNative() as unknown as DaemonNative;
}

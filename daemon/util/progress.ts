// Progress of long work (blocks onlined or offlined, bytes zeroed): the text daxramd puts in its
// STATUS, and for an operator at a terminal one line rewritten in place, with the rate and the
// time left. The CLI draws nothing when stderr is not a terminal (a script's log gets the
// result, not a stream of carriage returns) or with --json.

import {humanSize} from './size';

export interface ProgressSink {
  (device: string, what: string, done: number, total: number): void;
}

export interface ProgressOptions {
  write: (s: string) => void;
  now?: () => number;
  /** At most one redraw per this many ms (the last one always draws). */
  minIntervalMs?: number;
}

const CLEAR = '\r\x1b[K';

/** What one unit of `what` is: zeroing counts bytes, onlining and offlining count memory blocks. */
function amount(what: string, n: number): string {
  return what === 'zero' ? humanSize(BigInt(Math.round(n))) : `${Math.round(n)} block${Math.round(n) === 1 ? '' : 's'}`;
}

function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 90 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** One update as words: "dax0.0: online 5/16 blocks, 2 blocks/s, 6 s left". */
export function progressText(device: string, what: string, done: number, total: number, elapsedMs: number): string {
  const counted = what === 'zero' ? `${humanSize(BigInt(done))} of ${humanSize(BigInt(total))}` : `${done}/${total} block${total === 1 ? '' : 's'}`;
  let line = `${device}: ${what} ${counted}`;
  if (elapsedMs >= 500 && done > 0 && done < total) {
    const rate = (done * 1000) / elapsedMs;
    line += `, ${amount(what, rate)}/s, ${duration(((total - done) * 1000) / rate)} left`;
  }
  return line;
}

/**
 * A progress sink that draws on a terminal, and `clear()` to wipe the line before anything else
 * is written (an error, the result).
 */
export function terminalProgress(o: ProgressOptions): {sink: ProgressSink; clear: () => void} {
  const now = o.now ?? Date.now;
  const min = o.minIntervalMs ?? 100;
  let started: {key: string; at: number} | undefined;
  let drawn = false;
  let lastDraw = -Infinity;
  const clear = () => {
    if (drawn) o.write(CLEAR);
    drawn = false;
  };
  const sink: ProgressSink = (device, what, done, total) => {
    const key = `${device} ${what}`;
    const t = now();
    if (started?.key !== key) started = {key, at: t};
    if (done >= total) {
      clear();
      started = undefined;
      return;
    }
    if (t - lastDraw < min) return;
    lastDraw = t;
    o.write(`${CLEAR}daxram: ${progressText(device, what, done, total, t - started.at)}`);
    drawn = true;
  };
  return {sink, clear};
}

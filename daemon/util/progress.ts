// Progress of long work (blocks onlined or offlined, bytes zeroed): the text daxramd puts in its
// STATUS, and for an operator at a terminal one line rewritten in place, with the rate and the
// time left. The CLI draws nothing when stderr is not a terminal (a script's log gets the
// result, not a stream of carriage returns) or with --json.

import {humanSize} from './size';

export interface ProgressSink {
  (device: string, what: string, done: number, total: number): void;
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
 * A progress sink that shows the words of an update (`show`) at most every `minIntervalMs`, with
 * the rate measured from the first update of that device and work, and calls `end` when the
 * work is done. The terminal line and daxramd's STATUS are both this.
 */
export interface ProgressUpdate {
  device: string;
  what: string;
  done: number;
  total: number;
}

export function throttledProgress(o: {show: (text: string, u: ProgressUpdate) => void; end: () => void; minIntervalMs: number; now?: () => number}): ProgressSink {
  const now = o.now ?? Date.now;
  let started: {key: string; at: number} | undefined;
  let lastShown = -Infinity;
  return (device, what, done, total) => {
    const key = `${device} ${what}`;
    const t = now();
    if (started?.key !== key) started = {key, at: t};
    if (done >= total) {
      started = undefined;
      o.end();
      return;
    }
    if (t - lastShown < o.minIntervalMs) return;
    lastShown = t;
    o.show(progressText(device, what, done, total, t - started.at), {device, what, done, total});
  };
}

/**
 * A progress sink that draws on a terminal, and `clear()` to wipe the line before anything else
 * is written (an error, the result).
 */
export function terminalProgress(o: {write: (s: string) => void; now?: () => number; minIntervalMs?: number}): {sink: ProgressSink; clear: () => void} {
  let drawn = false;
  const clear = () => {
    if (drawn) o.write(CLEAR);
    drawn = false;
  };
  const sink = throttledProgress({
    now: o.now,
    minIntervalMs: o.minIntervalMs ?? 100,
    show: (text) => {
      o.write(`${CLEAR}daxram: ${text}`);
      drawn = true;
    },
    end: clear,
  });
  return {sink, clear};
}

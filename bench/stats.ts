// What every bench reports: the median of its runs (one slow or lucky run must not move it), and
// CPU time as /proc counts it.

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** /proc's CPU times are in USER_HZ ticks, 100 a second on every Linux ABI. */
const TICK_MS = 1000 / 100;

/**
 * Fields of /proc/PID/stat after "pid (comm) ", as times in ms: utime + stime (own) or
 * cutime + cstime (waited-for children). The comm may hold spaces, so it is cut at the last ')'.
 */
export function cpuMsOf(stat: string, which: 'own' | 'children'): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [a, b] = which === 'own' ? [11, 12] : [13, 14];
  return (Number(f[a]) + Number(f[b])) * TICK_MS;
}

// The top of one or more V8 CPU profiles (node --cpu-prof): self time by function and by file,
// summed over every .cpuprofile in the directories or files given. What issue 21 asks the
// closing note to show before and after a change to a hot path.
//
//   node dist/bench/prof-top.js DIR|FILE... [--top N]

import * as fs from 'node:fs';
import * as path from 'node:path';

interface Node {
  id: number;
  callFrame: {functionName: string; url: string; lineNumber: number};
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function files(args: string[]): string[] {
  return args.flatMap((a) => (fs.statSync(a).isDirectory() ? fs.readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(a, f)) : [a]));
}

function short(url: string): string {
  const u = url.replace(/^file:\/\//, '');
  const i = u.lastIndexOf('/dist/');
  return i >= 0 ? u.slice(i + 6) : u.startsWith('node:') ? u : u || '(native)';
}

function main(): void {
  const argv = process.argv.slice(2);
  const ti = argv.indexOf('--top');
  const top = ti >= 0 ? Number(argv.splice(ti, 2)[1]) : 25;
  const list = files(argv);
  if (!list.length) throw new Error('usage: prof-top.js DIR|FILE... [--top N]');
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  for (const f of list) {
    const p = JSON.parse(fs.readFileSync(f, 'utf8')) as Profile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    // timeDeltas[i] is the time before sample i: charged to the node sampled.
    p.samples.forEach((id, i) => {
      const n = nodes.get(id)!;
      const us = p.timeDeltas[i] ?? 0;
      const cf = n.callFrame;
      if (cf.functionName === '(idle)') return;
      total += us;
      const file = short(cf.url);
      const fn = `${cf.functionName || '(anonymous)'} ${file}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
      byFn.set(fn, (byFn.get(fn) ?? 0) + us);
      byFile.set(file, (byFile.get(file) ?? 0) + us);
    });
  }
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5);
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(us)} ms ${pct(us)}%  ${k}\n`);
  };
  process.stdout.write(`${list.length} profile(s), ${(total / 1000).toFixed(0)} ms sampled (idle left out)\n`);
  print('self time by function:', byFn);
  print('self time by file:', byFile);
}

main();

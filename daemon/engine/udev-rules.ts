// Distro udev rules that online hot-added memory by themselves: they race kmem's hot-add just
// as auto_online_blocks does, so a plan that must keep blocks offline, and a report of who
// onlined a block, need to know them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type {Context} from './context';

// udev's rules directories, highest priority first. A file name in an earlier directory hides
// the same name in later ones, and a rule linked to /dev/null (or left empty) is masked: that is
// how an operator disables a distro rule, so a masked rule must not count.
const UDEV_RULES_DIRS = ['/etc/udev/rules.d', '/run/udev/rules.d', '/usr/local/lib/udev/rules.d', '/usr/lib/udev/rules.d', '/lib/udev/rules.d'];
// Either one-line form (SUSE: SUBSYSTEM=="memory", ..., ATTR{state}="online") or the GOTO form
// (RHEL 40-redhat.rules: SUBSYSTEM!="memory", GOTO=...; then ATTR{state}="$env{.state}").
const MEMORY_MATCH = /SUBSYSTEM\s*[!=]=\s*"memory"/;
const STATE_ASSIGN = /ATTR\{state\}\s*=\s*"(online|\$env\{|%E\{)/;

/**
 * Distro udev rules that online hot-added memory by themselves (they race our writes), after
 * udev's own precedence and masking. Reads every rules file, so it is only called where the
 * answer decides or explains something: --no-online, a dry run, or blocks someone else onlined.
 */
export function onliningUdevRules(ctx: Context): string[] {
  const winner = new Map<string, string>();
  const seenDirs = new Set<string>();
  for (const dir of UDEV_RULES_DIRS) {
    let real: string;
    let names: string[];
    try {
      real = fs.realpathSync(ctx.sysfs.p(dir));
      names = fs.readdirSync(real);
    } catch {
      continue;
    }
    if (seenDirs.has(real)) continue; // merged /usr: /lib/udev is /usr/lib/udev
    seenDirs.add(real);
    for (const n of names) if (n.endsWith('.rules') && !winner.has(n)) winner.set(n, path.posix.join(dir, n));
  }
  const hits: string[] = [];
  for (const file of [...winner.values()].sort()) {
    let text: string;
    try {
      text = fs.readFileSync(ctx.sysfs.p(file), 'utf8'); // /dev/null reads as empty: masked
    } catch {
      continue;
    }
    if (!text.includes('"memory"')) continue;
    const live = text.split('\n').filter((l) => !/^\s*#/.test(l));
    if (live.some((l) => MEMORY_MATCH.test(l)) && live.some((l) => STATE_ASSIGN.test(l))) hits.push(file);
  }
  return hits;
}

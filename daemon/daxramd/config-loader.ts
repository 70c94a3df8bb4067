// daxramd's configuration, all or nothing: a file set that validates is used and saved as the
// last good one; one that does not is rejected with its file:line, and the daemon keeps the
// configuration it had (or, at start, the last good one saved in the state directory).

import * as fs from 'node:fs';
import * as path from 'node:path';
import {ConfigError} from '../errors';
import {loadConfig, mergeDaxctl, parseConfig, type Config, type ConfigPaths} from '../config/config';
import {parseDaxctlConf} from '../config/daxctl-conf';
import {writeAtomic} from '../util/atomic';
import type {DaemonLog} from './log';

export const LAST_GOOD = 'last-good-config.json';

export interface LoadedConfig {
  cfg: Config;
  /** Set when the files on disk were rejected (the message names file and line). */
  error?: string;
}

export function loadConfigKeepingLastGood(paths: ConfigPaths, stateDir: string, log: DaemonLog, previous: Config | undefined): LoadedConfig {
  const snap = path.join(stateDir, LAST_GOOD);
  try {
    const cfg = loadConfig(paths);
    const texts = cfg.files.map((f) => ({file: f, text: fs.readFileSync(f, 'utf8'), daxctl: !f.startsWith(paths.etcDir + path.sep)}));
    writeAtomic(snap, JSON.stringify({texts}) + '\n');
    for (const w of cfg.warnings) log.warn(`config: ${w}`);
    for (const c of cfg.conflicts) log.notice(`config: ${c.key}: ${c.ours.file}:${c.ours.line} overrides daxctl's ${c.daxctl.file}:${c.daxctl.line}${c.differs.length ? ` (${c.differs.join('; ')})` : ''}`);
    return {cfg};
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    log.error(`config rejected, nothing changed: ${e.message}${e.fix ? ` (fix: ${e.fix})` : ''}`);
    if (previous) {
      log.warn('keeping the configuration loaded before');
      return {cfg: previous, error: e.message};
    }
    try {
      const {texts} = JSON.parse(fs.readFileSync(snap, 'utf8')) as {texts: Array<{file: string; text: string; daxctl: boolean}>};
      const cfg = parseConfig(texts.filter((t) => !t.daxctl));
      mergeDaxctl(cfg, parseDaxctlConf(texts.filter((t) => t.daxctl)).rules);
      log.warn(`using the last good configuration saved in ${snap}`);
      return {cfg, error: e.message};
    } catch {
      log.warn('no last good configuration: managing no device until the config is fixed');
      return {cfg: parseConfig([]), error: e.message};
    }
  }
}

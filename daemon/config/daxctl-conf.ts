// /etc/daxctl.conf.d/*.conf, read the way daxctl reads it for `daxctl reconfigure-device -C`:
// [reconfigure-device NAME] sections with nvdimm.uuid, mode (system-ram | devdax), online and
// movable (both default true). Other sections belong to other daxctl commands and are skipped;
// unknown keys inside ours are warned about, not fatal, since newer daxctl may add some.

import {bool, confFilesIn, newRule, readText, type DeviceRule} from './rules';
import {headerOf, iniError, parseIni} from './ini';
import {isUuid} from '../model/identity';


export interface DaxctlConf {
  rules: DeviceRule[];
  warnings: string[];
  files: string[];
}

export function readDaxctlConf(dir: string): DaxctlConf {
  const files = confFilesIn(dir);
  return parseDaxctlConf(files.map((f) => ({file: f, text: readText(f)})));
}

export function parseDaxctlConf(texts: Array<{file: string; text: string}>): DaxctlConf {
  const out: DaxctlConf = {rules: [], warnings: [], files: texts.map((t) => t.file)};
  const names = new Map<string, string>();
  for (const {file, text} of texts) {
    for (const s of parseIni(text, file)) {
      if (s.kind !== 'reconfigure-device') continue;
      if (!s.name) throw iniError(file, s.line, `[reconfigure-device] needs a unique name`, 'write [reconfigure-device NAME] as daxctl expects');
      const prev = names.get(s.name);
      // daxctl requires section names to be unique across all files.
      if (prev) throw iniError(file, s.line, `[${headerOf(s)}] already defined at ${prev}`, 'daxctl section names must be unique across /etc/daxctl.conf.d');
      names.set(s.name, `${file}:${s.line}`);
      const rule = newRule(s.name, file, s.line, 'daxctl');
      let modeSeen = false;
      for (const e of s.entries) {
        switch (e.key) {
          case 'nvdimm.uuid':
            if (!isUuid(e.value)) throw iniError(file, e.line, `nvdimm.uuid "${e.value}" is not a uuid`);
            rule.match.uuid = e.value.toLowerCase();
            break;
          case 'mode':
            if (e.value === 'system-ram') rule.mode = 'ram';
            else if (e.value === 'devdax') rule.mode = 'devdax';
            else throw iniError(file, e.line, `mode = "${e.value}" is not system-ram or devdax`);
            modeSeen = true;
            break;
          case 'online':
            rule.online = bool(e, file);
            break;
          case 'movable':
            rule.zone = bool(e, file) ? 'movable' : 'normal';
            break;
          default:
            out.warnings.push(`${file}:${e.line}: unknown daxctl key "${e.key}" in [${headerOf(s)}] ignored`);
        }
      }
      if (!rule.match.uuid) throw iniError(file, s.line, `[${headerOf(s)}] has no nvdimm.uuid`, 'daxctl matches devices only by nvdimm.uuid');
      if (!modeSeen) throw iniError(file, s.line, `[${headerOf(s)}] has no mode`, 'add mode = system-ram or mode = devdax');
      out.rules.push(rule);
    }
  }
  return out;
}


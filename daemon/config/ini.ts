// The one grammar for every configuration file we read: ours in /etc/daxram and daxctl's in
// /etc/daxctl.conf.d. daxctl parses its files with ciniparser, so a strict INI reader is the
// format its users already write; doing both with one reader keeps "daxctl users can switch
// without rewriting" honest. Strict means: every line is a comment, a blank, a [section] or a
// key = value inside a section; anything else is an error with the file and line number.
// (npm's INI libraries accept anything and report no line numbers, which is exactly the
// failure mode a boot-time config must not have.)

import {ConfigError} from '../errors';

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  /** First word of the header: "device" in [device fast-tier]. */
  kind: string;
  /** The rest of the header, trimmed ("fast-tier"); "" when the header is a single word. */
  name: string;
  line: number;
  entries: IniEntry[];
}

// Every pattern here is a single character class, anchored: linear in the line's length (a
// header with backtracking alternatives took 13 s of CPU on one crafted line, on the daemon's
// event loop). Lines and files are capped besides.
const WORD_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const KEY_RE = WORD_RE;
/** A section's name: printable, no brackets (daxctl's names may hold spaces). */
const NAME_RE = /^[^\x00-\x1f\x7f[\]]*$/;
export const MAX_LINE = 4096;
export const MAX_FILE = 1 << 20;

/** A header's kind and name, or undefined when it is not `[kind]` or `[kind name]`. */
function sectionHeader(line: string): {kind: string; name: string} | undefined {
  if (!line.endsWith(']')) return undefined;
  const inner = line.slice(1, -1).trim();
  const sp = inner.search(/\s/);
  const kind = sp < 0 ? inner : inner.slice(0, sp);
  const name = sp < 0 ? '' : inner.slice(sp).trim();
  if (!WORD_RE.test(kind) || !NAME_RE.test(name)) return undefined;
  return {kind, name};
}

/** Parse one file. `file` names it in errors ("/etc/daxram/daxram.conf:12: …"). */
export function parseIni(text: string, file: string): IniSection[] {
  if (text.length > MAX_FILE) throw iniError(file, 1, `file is ${text.length} characters, over the ${MAX_FILE} a configuration may have`, 'a configuration is a few dozen lines; check the file is the one meant');
  const sections: IniSection[] = [];
  let cur: IniSection | undefined;
  // First line of each key in the current section (a map: a list search made a long section quadratic).
  let keys = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].length > MAX_LINE) throw iniError(file, lineNo, `line is ${lines[i].length} characters long, over ${MAX_LINE}`, 'a setting fits on one short line');
    const line = lines[i].replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const h = sectionHeader(line);
      if (!h) throw iniError(file, lineNo, `malformed section header ${JSON.stringify(line)}`, 'write it as [kind] or [kind name], e.g. [device fast-tier]');
      cur = {kind: h.kind.toLowerCase(), name: h.name, line: lineNo, entries: []};
      keys = new Map();
      sections.push(cur);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw iniError(file, lineNo, `expected "key = value", got ${JSON.stringify(line)}`, 'every setting is key = value; comments start with #');
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (!KEY_RE.test(key)) throw iniError(file, lineNo, `invalid key ${JSON.stringify(key)}`, 'keys are letters, digits, ".", "-" and "_"');
    if (!cur) throw iniError(file, lineNo, `"${key}" is outside any [section]`, 'put settings under a section header such as [daemon] or [device NAME]');
    // A trailing " # comment" is allowed; a quoted value keeps its # characters.
    if (value.startsWith('"')) {
      const end = value.indexOf('"', 1);
      const rest = end < 0 ? '' : value.slice(end + 1).trim();
      if (end < 0 || (rest !== '' && !rest.startsWith('#'))) throw iniError(file, lineNo, `unterminated or trailing text after quoted value for "${key}"`, 'close the quote; put comments after it with #');
      value = value.slice(1, end);
    } else {
      const hash = value.search(/\s[#;]/);
      if (hash >= 0) value = value.slice(0, hash).trim();
    }
    const dup = keys.get(key.toLowerCase());
    if (dup !== undefined) throw iniError(file, lineNo, `"${key}" set twice in [${headerOf(cur)}] (first on line ${dup})`, 'keep one of the two lines');
    keys.set(key.toLowerCase(), lineNo);
    cur.entries.push({key: key.toLowerCase(), value, line: lineNo});
  }
  return sections;
}

export function headerOf(s: IniSection): string {
  return s.name ? `${s.kind} ${s.name}` : s.kind;
}

export function iniError(file: string, line: number, msg: string, fix?: string): ConfigError {
  // The message already starts with file:line; no separate path, or describe() says it twice.
  const e = new ConfigError(`${file}:${line}: ${msg}`, {fix});
  (e as ConfigError & {line?: number}).line = line;
  return e;
}

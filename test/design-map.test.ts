// docs/design.md's module map is true to the code: every module under daemon/ is named in its
// table, and every name in it is a module (brace lists expanded, as a shell would).

import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function modules(dir: string): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return modules(p);
    return e.name.endsWith('.ts') ? [path.relative(path.join(ROOT, 'daemon'), p)] : [];
  });
}

/** `a/{b,c}.ts` → a/b.ts, a/c.ts */
function expand(pattern: string): string[] {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(pattern);
  if (!m) return [pattern];
  return m[2].split(',').flatMap((x) => expand(`${m[1]}${x}${m[3]}`));
}

test('every module in daemon/ is in docs/design.md\'s module map, and nothing else is', (t) => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'design.md'), 'utf8');
  const table = doc.split('\n').filter((l) => /^\| [a-z, ]+ \| `/.test(l));
  t.true(table.length >= 8, 'the layer table is there');
  const named = new Set(table.flatMap((l) => [...l.split('|')[2].matchAll(/`([^`]+\.ts)`/g)].flatMap((m) => expand(m[1]))));
  const actual = modules(path.join(ROOT, 'daemon')).sort();
  t.deepEqual(actual.filter((m) => !named.has(m)), [], 'modules missing from the map');
  t.deepEqual([...named].filter((m) => !actual.includes(m)).sort(), [], 'names in the map that are no module');
});

// The engine reads the kernel through the model's readers (one reader per attribute); only the
// plan executor reads an attribute itself, just before writing it (read before write). udev's
// rules files are configuration, not the kernel.
const READS_ITSELF = new Set(['exec.ts', 'udev-rules.ts']);
const SYSFS_READ = /\bsysfs\.(read\w*|exists|list|real|linkName|p)\(/g;

test('no engine module but the plan executor reads sysfs itself', (t) => {
  const dir = path.join(ROOT, 'daemon', 'engine');
  const found = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !READS_ITSELF.has(f))
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').flatMap((l, i) => [...l.matchAll(SYSFS_READ)].map((m) => `engine/${f}:${i + 1}: ${m[0]}`)));
  t.deepEqual(found, []);
});

#!/usr/bin/env node
// The manual pages and the bash completion, generated from what cannot drift from the program:
// daxram(8) and daxramd(8) from the programs' own --help (yargs renders it from the same
// definitions that parse the command line), daxram.conf(5) from docs/daxram.conf.5.md (a unit
// test checks that every key the parser accepts is documented there), each converted to roff by
// marked-man; the completion from the verbs and options the same --help lists.
//   node debian/manpages.cjs OUTDIR
// argv arrays only, no shell.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const {spawnSync} = require('node:child_process');

const repo = path.resolve(__dirname, '..');
const out = path.resolve(process.argv[2] || path.join(repo, 'debian', 'generated'));
fs.mkdirSync(out, {recursive: true});
const version = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).version;

/** A program's --help (or a verb's), at a fixed width so the page does not depend on a terminal. */
function help(program, args) {
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', program), ...args, '--help'], {encoding: 'utf8', env: {...process.env, COLUMNS: '80'}});
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} --help exited ${r.status}: ${r.stderr}`);
  return r.stdout.trimEnd();
}

/** The verbs `daxram --help` lists, in its order: "  daxram list   List …". */
function verbs() {
  return [...help('daxram', []).matchAll(/^ {2}daxram ([a-z-]+)\b/gm)].map((m) => m[1]);
}

/** Options a help text lists ("--name" and short "-x"), for the completion. */
function options(text) {
  return [...new Set([...text.matchAll(/^\s+(?:-([a-zA-Z]), )?--([a-z][a-z-]*)/gm)].flatMap((m) => [`--${m[2]}`, ...(m[1] ? [`-${m[1]}`] : [])]))];
}

const indent = (t) => t.split('\n').map((l) => (l ? `    ${l}` : '')).join('\n');

function daxramPage() {
  const top = help('daxram', []);
  const sections = verbs().map((v) => `### daxram ${v}\n\n${indent(help('daxram', [v]))}\n`);
  return `daxram(8) -- device-dax memory as System RAM, safely
====================================================

## SYNOPSIS

\`daxram\` *command* [*options*]

## DESCRIPTION

daxram turns device-dax capacity (CXL memory expanders, soft-reserved hmem ranges, pmem behind
an NVDIMM region, legacy memmap= pmem) into System RAM and back. Every range is scrubbed for
poison and cleared where it can be, gated on policy (residual poison, machine-check recovery,
DIMM security, reservations), bound to kmem and onlined on its target NUMA node, Movable by
default, and verified. Every command that changes something takes \`--dry-run\`, which prints
the exact sysfs writes and ioctls first, and \`--json\`. Commands run one at a time, under a lock
shared with daxramd(8), and journal what they do: \`daxram recover\` (or the next command)
finishes one that was interrupted, even by a power cut.

${indent(top)}

## COMMANDS

${sections.join('\n')}
## EXIT STATUS

0 on success; 1 when the command failed or was refused (the error names the device and the
fix; with \`--json\` it is a JSON object on standard error); 2 for a usage error; 3 when
\`daxram status\` finds no daxramd running.

## FILES

\`/etc/daxram/daxram.conf\` (daxram.conf(5)), \`/var/lib/daxram\` (operator records, journals,
remembered reservations), \`/run/daxram/lock\`, \`/run/daxram/daxramd.sock\`.

## SEE ALSO

daxramd(8), daxram.conf(5), daxctl(1), ndctl(1), cxl(1)
`;
}

function daxramdPage() {
  return `daxramd(8) -- keep device-dax capacity in the state the operator configured
=========================================================================

## SYNOPSIS

\`daxramd\` [*options*]

## DESCRIPTION

daxramd applies daxram.conf(5) (and daxctl's reconfigure-device sections) to every device-dax
device at boot and whenever one appears: it makes configured capacity System RAM through the
same checks as daxram(8) \`online\`, returns devices to devdax when asked, isolates poison that
appears in RAM it manages, and reports its state to systemd (\`STATUS=\`), to the journal and to
node_exporter (\`daxram.prom\`). It is started by systemd (\`daxramd.service\`, pulled in at boot by
a udev rule when a dax device appears); stopping it leaves memory as it is.

Its boot guard (\`daxramd --hold-hotplug\`, \`daxram-hotplug-guard.service\`, before udev's
coldplug) holds the kernel's hot-add policy so that dax memory the kernel would online by itself
waits, offline, until daxramd has checked it; daxramd onlines any other hot-added memory as the
system's policy says and gives the policy back when it stops. \`daxramd --release-hotplug\` gives
it back when its holder is gone.

${indent(help('daxramd', []))}

## FILES

\`/etc/daxram/daxram.conf\`, \`/var/lib/daxram\`, \`/var/cache/daxram\`, \`/run/daxram\`,
\`/var/lib/prometheus/node-exporter/daxram.prom\`. The failure modes and what the box does:
\`/usr/share/doc/daxram/daemon.md\`.

## SEE ALSO

daxram(8), daxram.conf(5), systemctl(1)
`;
}

/** bash completion: verbs, each verb's options, and the devices, regions and memdevs present. */
function completion() {
  const vs = verbs();
  const perVerb = vs.map((v) => `    ${v}) opts="${options(help('daxram', [v])).join(' ')}" ;;`).join('\n');
  return `# bash completion for daxram(8), generated from its --help by debian/manpages.cjs.
_daxram() {
    local cur verb opts i
    cur="\${COMP_WORDS[COMP_CWORD]}"
    verb=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "\${COMP_WORDS[i]}" in -*) ;; *) verb="\${COMP_WORDS[i]}"; break ;; esac
    done
    if [ -z "$verb" ]; then
        COMPREPLY=($(compgen -W "${vs.join(' ')} --help --version --json" -- "$cur"))
        return
    fi
    case "$verb" in
${perVerb}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    local objs
    objs="$(ls /sys/bus/dax/devices 2>/dev/null)"
    case "$verb" in
    provision|reassign|release|forget)
        objs="$objs $(ls /sys/bus/nd/devices /sys/bus/cxl/devices 2>/dev/null | grep -E '^(region[0-9]+|mem[0-9]+)$') $(ls /sys/bus/dax/devices 2>/dev/null | sed -n 's/^dax\\([0-9]*\\)\\..*/dax_region\\1/p' | sort -u)"
        ;;
    esac
    COMPREPLY=($(compgen -W "$objs" -- "$cur"))
}
complete -F _daxram daxram
`;
}

function roff(markdown, name, section) {
  const src = path.join(out, `${name}.${section}.md`);
  fs.writeFileSync(src, markdown);
  const r = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'marked-man', 'bin', 'marked-man.js'), '--no-breaks', '--version', version, '--manual', 'daxram', src], {encoding: 'utf8'});
  if (r.status !== 0) throw new Error(`marked-man ${src} exited ${r.status}: ${r.stderr}`);
  fs.writeFileSync(path.join(out, `${name}.${section}`), r.stdout);
}

roff(daxramPage(), 'daxram', 8);
roff(daxramdPage(), 'daxramd', 8);
roff(fs.readFileSync(path.join(repo, 'docs', 'daxram.conf.5.md'), 'utf8'), 'daxram.conf', 5);
fs.writeFileSync(path.join(out, 'daxram.bash-completion'), completion());
console.log(`man pages and completion in ${path.relative(repo, out)}`);

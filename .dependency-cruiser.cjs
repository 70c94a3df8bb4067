// The layers of daemon/, lowest first. A module may import its own layer and the layers below
// it, never one above, and nothing may import in a cycle. `npm run test:deps` (part of
// `npm test`) checks it; docs/design.md has the map.
//
//   util, errors       sizes, ranges, atomic files, typed errors
//   sys                sysfs.ts, native.ts, ndctl.ts, mce.ts, kmod.ts, mounts.ts, tracefs.ts: the doors to the kernel
//   model              one reader per kernel object
//   policy             the gates and their settings
//   config             configuration files, operator records, reservations
//   scrub              address range scrub and clear
//   engine             transitions: plan, journal, lock, online/offline/isolate/layout/recover
//   host, ipc          this host's engine context (gate sources, intent hook); the control socket protocol
//   cli, daxramd       the two programs (neither imports the other)

const SYS = '^daemon/(sysfs|native|ndctl|mce|kmod|mounts|tracefs)\\.ts$';
const below = (...layers) => `^daemon/(${layers.join('|')})(/|\\.ts$)`;
const layer = (name, from, allowed) => ({
  name: `layer-${name}`,
  comment: `${name} may only import from: ${allowed.join(', ')}`,
  severity: 'error',
  from: {path: from},
  to: {path: '^daemon/', pathNot: below(...allowed)},
});

module.exports = {
  forbidden: [
    {name: 'no-circular', severity: 'error', comment: 'no import cycles, type-only ones included', from: {}, to: {circular: true}},
    layer('errors', '^daemon/errors\\.ts$', ['errors']),
    layer('util', '^daemon/util/', ['util', 'errors']),
    layer('sys', SYS, ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs']),
    layer('model', '^daemon/model/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model']),
    layer('policy', '^daemon/policy/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy']),
    layer('config', '^daemon/config/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy', 'config']),
    layer('scrub', '^daemon/scrub/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'scrub']),
    layer('engine', '^daemon/engine/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy', 'engine']),
    layer('host', '^daemon/host/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy', 'config', 'scrub', 'engine', 'host']),
    layer('ipc', '^daemon/ipc/', ['util', 'errors', 'config', 'ipc']),
    layer('cli', '^daemon/cli/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy', 'config', 'scrub', 'engine', 'host', 'ipc', 'cli']),
    {
      name: 'engine-through-index',
      comment: 'outside engine/, the engine is its API (engine/index.ts; engine/hold.ts, the hot-add hold alone, for the boot guard\'s small bundle): every kernel write goes through a transition there',
      severity: 'error',
      from: {path: '^daemon/', pathNot: '^daemon/engine/'},
      to: {path: '^daemon/engine/', pathNot: '^daemon/engine/(index|hold)\\.ts$'},
    },
    {
      name: 'engine-reads-through-model',
      comment: "the engine reads the kernel through the model's readers: only context.ts (the Sysfs it is handed) imports sysfs.ts; design-map.test.ts fails on an engine module other than exec.ts (read before write) calling a Sysfs reader",
      severity: 'error',
      from: {path: '^daemon/engine/', pathNot: '^daemon/engine/context\\.ts$'},
      to: {path: '^daemon/sysfs\\.ts$'},
    },
    layer('daxramd', '^daemon/daxramd/', ['util', 'errors', 'sysfs', 'native', 'ndctl', 'mce', 'kmod', 'mounts', 'tracefs', 'model', 'policy', 'config', 'scrub', 'engine', 'host', 'ipc', 'daxramd']),
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    // Type-only imports count: a type cycle is a design cycle too.
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    exclude: {path: '^(dist|node_modules|build)/'},
  },
};

// Every verb's usage line and summary, in the order `daxram --help` shows them: their one home.
// Each verb's module takes its own from here, and the top-level help (or a misspelt verb) is
// made from this table alone, without loading a verb's module (they load the engine, the scrub
// pipeline, the control socket: 30 ms of `daxram --help`).

export const VERBS = {
  list: {command: 'list', describe: 'List device-dax devices, where they come from, and what kmem would online'},
  online: {command: 'online <device>', describe: 'Turn a dax device into System RAM on its target NUMA node'},
  offline: {command: 'offline <device>', describe: 'Take a dax device back from System RAM to devdax (zeroed)'},
  reassign: {command: 'reassign <region>', describe: "Move a region's capacity between System RAM and devdax"},
  provision: {command: 'provision <target>', describe: 'Turn free capacity into System RAM: an empty NVDIMM region, or CXL memdevs made into a RAM region'},
  release: {command: 'release <region>', describe: 'Tear down a CXL RAM region: its RAM offlined and zeroed, decoders reset, memdev capacity free again'},
  recover: {command: 'recover', describe: 'Finish a transition that was interrupted (crash, SIGKILL, power loss)'},
  scrub: {command: 'scrub <device>', describe: "Find poison in a dax device's physical range with an address range scrub"},
  clear: {command: 'clear <device>', describe: 'Scrub a dax device and clear its poison (CLEAR_ERROR), then verify'},
  status: {command: 'status', describe: 'What daxramd manages: desired and actual state of each device'},
  config: {command: 'config <action>', describe: 'Check, show or reload the daxramd configuration (/etc/daxram)'},
  forget: {command: 'forget <device>', describe: 'Drop the operator record for a device so the configuration applies to it again; release a reservation the configuration no longer holds'},
} as const;

export type Verb = keyof typeof VERBS;

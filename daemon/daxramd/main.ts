// daxramd: keeps device-dax capacity in the state the operator configured. Started by systemd
// (systemd/daxramd.service, Type=notify), pulled in at boot by the udev rule when a dax device
// appears. See docs/daemon.md.

import yargs from 'yargs';
import {VERSION} from '../util/version';
import {DaemonLog, Level} from './log';
import {Daemon, DEFAULT_OPTIONS} from './daemon';
import {describeError} from '../errors';
import type {ContextInjection} from '../host/context';
import {main as guardMain} from './guard';
import {isGuardCall} from './guard-args';
import {loadDaemonNative} from './notify';
import type {DaemonNative} from '../native';

/** `inject` is for test entry points (a kill point, a poison source); bin/daxramd passes none. */
export async function main(argv: string[], inject?: ContextInjection): Promise<void> {
  // The guard's verbs are guard.ts's (their own bundle on a host); yargs below only lists them.
  if (isGuardCall(argv)) return guardMain(argv);
  const a = parseArgs(argv);
  const log = new DaemonLog({level: (a['log-level'] as Level | undefined) ?? 'info'});
  let native: DaemonNative | undefined;
  try {
    native = loadDaemonNative();
  } catch (e) {
    log.warn(`native addon unavailable (${describeError(e)}): no sd_notify, no event watching`);
  }
  const d = new Daemon(
    {
      paths: {etcDir: a['config-dir'], daxctlDir: a['daxctl-dir'] || undefined},
      stateDir: a['state-dir'],
      lockPath: a.lock,
      socketPath: a.socket,
      root: a.root,
      metricsDir: a['metrics-dir'],
      once: a.once,
      inject,
    },
    log,
    native,
  );
  handleSignals(d, log);
  try {
    await d.start();
    if (!a['log-level']) log.setLevel(d.cfg.daemon.logLevel);
  } catch (e) {
    log.error(`cannot start: ${describeError(e)}`);
    log.flushThenExit(1);
    return;
  }
  if (a.once) {
    const failed = d.last.some((r) => r.action === 'failed' || r.action === 'refused');
    log.info(d.statusLine());
    log.flushThenExit(failed ? 1 : 0);
  }
}

function parseArgs(argv: string[]) {
  return yargs(argv)
    .scriptName('daxramd')
    .usage('daxramd: apply /etc/daxram (and /etc/daxctl.conf.d) to device-dax devices and keep it applied.\n\nUsage: $0 [options]')
    .option('config-dir', {type: 'string', default: DEFAULT_OPTIONS.paths.etcDir, describe: 'Directory with daxram.conf and conf.d/'})
    .option('daxctl-dir', {type: 'string', default: DEFAULT_OPTIONS.paths.daxctlDir, describe: "daxctl's reconfigure-device config directory ('' to ignore it)"})
    .option('state-dir', {type: 'string', default: DEFAULT_OPTIONS.stateDir, describe: 'Operator records and the intent journal'})
    .option('socket', {type: 'string', default: DEFAULT_OPTIONS.socketPath, describe: 'Control socket'})
    .option('lock', {type: 'string', default: DEFAULT_OPTIONS.lockPath, describe: 'Lock shared with the daxram CLI'})
    .option('metrics-dir', {type: 'string', describe: 'Prometheus textfile-collector directory (overrides the config)'})
    .option('log-level', {choices: ['error', 'warning', 'notice', 'info', 'debug'], describe: 'Overrides the config'})
    .option('once', {type: 'boolean', default: false, describe: 'Apply the configuration once and exit'})
    .option('hold-hotplug', {
      type: 'boolean',
      describe: "Boot guard (daxram-hotplug-guard.service, before udev's coldplug): take the kernel's hot-add policy so dax memory waits offline for daxramd, and exit",
    })
    .option('release-hotplug', {
      type: 'boolean',
      describe: "Give the kernel's hot-add policy back if its holder is gone (the guard's stop, the package's removal, daxramd's final failure), and exit",
    })
    .conflicts('hold-hotplug', 'release-hotplug')
    .option('root', {type: 'string', default: '/', hidden: true})
    .strict()
    .help()
    .version(VERSION)
    .parseSync();
}

/**
 * An exception nothing caught (a watcher callback included: the addon routes those here) ends
 * the process with status 1, logged: systemd restarts daxramd, which takes its hold back over.
 * SIGTERM/SIGINT stop (memory left as it is), SIGHUP reloads the configuration.
 */
function handleSignals(d: Daemon, log: DaemonLog): void {
  process.on('uncaughtException', (e) => {
    log.error(`uncaught exception, exiting: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    log.flushThenExit(1);
  });
  const stop = (sig: string) => {
    d.stop(sig)
      .catch((e) => log.error(`stop: ${describeError(e)}`))
      .finally(() => log.flushThenExit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    d.reload().catch((e) => log.error(`reload: ${describeError(e)}`));
  });
}

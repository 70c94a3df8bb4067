// daxramd: keeps device-dax capacity in the state the operator configured. Started by systemd
// (systemd/daxramd.service, Type=notify), pulled in at boot by the udev rule when a dax device
// appears. See docs/daemon.md.

import yargs from 'yargs';
import {DaemonLog, Level} from './log';
import {Daemon, DEFAULT_OPTIONS, describe} from './daemon';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {hostContext, type ContextInjection} from '../live/context';
import {Sysfs} from '../sysfs';
import {makePolicy} from '../policy/settings';
import {takeHold} from '../engine/hotplug-policy';
import {readAutoOnline} from '../model/hotplug';
import {loadDaemonNative} from './notify';
import type {DaemonNative} from '../native';

/** `inject` is for test entry points (a kill point, a poison source); bin/daxramd passes none. */
export async function main(argv: string[], inject?: ContextInjection): Promise<void> {
  const a = yargs(argv)
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
      default: false,
      describe: "Boot guard (daxram-hotplug-guard.service, before udev's coldplug): take the kernel's hot-add policy so dax memory waits offline for daxramd, and exit",
    })
    .option('root', {type: 'string', default: '/', hidden: true})
    .strict()
    .help()
    .version(false)
    .parseSync();

  const log = new DaemonLog({level: (a['log-level'] as Level | undefined) ?? 'info'});
  if (a['hold-hotplug']) {
    process.exitCode = holdHotplug(log, a.root, a.lock);
    await log.flush();
    return;
  }
  let native: DaemonNative | undefined;
  try {
    native = loadDaemonNative();
  } catch (e) {
    log.warn(`native addon unavailable (${describe(e)}): no sd_notify, no event watching`);
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

  const stop = (sig: string) => {
    d.stop(sig)
      .catch((e) => log.error(`stop: ${describe(e)}`))
      .finally(() => log.flushThenExit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    d.reload().catch((e) => log.error(`reload: ${describe(e)}`));
  });

  try {
    await d.start();
    if (!a['log-level']) log.setLevel(d.cfg.daemon.logLevel);
  } catch (e) {
    log.error(`cannot start: ${describe(e)}`);
    log.flushThenExit(1);
    return;
  }
  if (a.once) {
    const failed = d.last.some((r) => r.action === 'failed' || r.action === 'refused');
    log.info(d.statusLine());
    log.flushThenExit(failed ? 1 : 0);
  }
}

/**
 * The boot guard: before udev's coldplug loads dax_hmem, dax_cxl and kmem, take the kernel's
 * hot-add policy so the memory they add stays offline until daxramd has checked it. A masked
 * daxramd means the operator turned daxram off: the guard then takes nothing, and the box
 * boots with the kernel's own policy.
 */
function holdHotplug(log: DaemonLog, root: string, lock: string): number {
  const unit = path.join(root, 'etc/systemd/system/daxramd.service');
  try {
    if (fs.realpathSync(unit) === '/dev/null') {
      log.notice('daxramd.service is masked: leaving the kernel\'s hot-add policy alone');
      return 0;
    }
  } catch {
    /* not masked */
  }
  const sysfs = new Sysfs(root);
  const ctx = hostContext({sysfs, policy: makePolicy(), lockPath: lock, loadModules: false, log: {info: (m) => log.info(m), warn: (m) => log.warn(m)}});
  try {
    const hold = takeHold(ctx, 'daxram-hotplug-guard');
    if (hold) log.notice(`auto_online_blocks held at offline (was "${hold.policy}"): dax memory waits for daxramd; daxramd onlines other hot-added memory as "${hold.policy}" says`);
    else log.info(`auto_online_blocks is "${readAutoOnline(sysfs)}": hot-added memory already waits offline; nothing to hold`);
    return 0;
  } catch (e) {
    log.error(`could not hold the hot-add policy: ${describe(e)}`);
    return 1;
  }
}

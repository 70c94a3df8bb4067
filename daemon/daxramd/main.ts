// daxramd: keeps device-dax capacity in the state the operator configured. Started by systemd
// (systemd/daxramd.service, Type=notify), pulled in at boot by the udev rule when a dax device
// appears. See docs/daemon.md.

import yargs from 'yargs';
import {VERSION} from '../util/version';
import {DaemonLog, Level} from './log';
import {Daemon, DEFAULT_OPTIONS, describe} from './daemon';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {hostContext, type ContextInjection} from '../live/context';
import {Sysfs} from '../sysfs';
import {makePolicy} from '../policy/settings';
import {holdHotplug as holdHotplug0, releaseHotplug as releaseHotplug0} from '../engine';
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

  const log = new DaemonLog({level: (a['log-level'] as Level | undefined) ?? 'info'});
  if (a['hold-hotplug'] || a['release-hotplug']) {
    process.exitCode = await (a['hold-hotplug'] ? holdHotplug : releaseHotplug)(log, a.root, a.lock, a['state-dir']);
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

  // An exception nothing caught (a watcher callback included: the addon routes those here) ends
  // the process with status 1, logged: systemd restarts daxramd, which takes its hold back over.
  process.on('uncaughtException', (e) => {
    log.error(`uncaught exception, exiting: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    log.flushThenExit(1);
  });
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
 * Whether daxramd will run on this boot, as systemd will decide it: not masked (a link to
 * /dev/null in /etc or, by `systemctl mask --runtime`, in /run), and a dax bus to manage (its
 * ConditionPathIsDirectory). The guard takes the policy only then: a hold nobody gives back
 * would leave every hot-added DIMM offline.
 */
export function daxramdWillRun(root: string): {yes: boolean; why: string} {
  for (const dir of ['etc/systemd/system', 'run/systemd/system']) {
    const unit = path.join(root, dir, 'daxramd.service');
    try {
      if (fs.realpathSync(unit) === '/dev/null') return {yes: false, why: `daxramd.service is masked (/${dir})`};
    } catch {
      /* absent: not masked there */
    }
  }
  if (!fs.existsSync(path.join(root, 'sys/bus/dax'))) return {yes: false, why: 'there is no dax bus (/sys/bus/dax): daxramd will not start'};
  return {yes: true, why: ''};
}

function guardContext(log: DaemonLog, root: string, lock: string, stateDir: string) {
  const sysfs = new Sysfs(root);
  return {sysfs, ctx: hostContext({sysfs, policy: makePolicy(), lockPath: lock, stateDir, lockWaitMs: 30_000, loadModules: false, log: {info: (m) => log.info(m), warn: (m) => log.warn(m)}})};
}

/**
 * The boot guard: before udev's coldplug loads dax_hmem, dax_cxl and kmem, take the kernel's
 * hot-add policy so the memory they add stays offline until daxramd has checked it, when
 * daxramd will run to give it back.
 */
async function holdHotplug(log: DaemonLog, root: string, lock: string, stateDir: string): Promise<number> {
  const will = daxramdWillRun(root);
  if (!will.yes) {
    log.notice(`${will.why}: leaving the kernel's hot-add policy alone`);
    return 0;
  }
  const {sysfs, ctx} = guardContext(log, root, lock, stateDir);
  try {
    const hold = await holdHotplug0(ctx, 'daxram-hotplug-guard');
    if (hold) log.notice(`auto_online_blocks held at offline (was "${hold.policy}"): dax memory waits for daxramd; daxramd onlines other hot-added memory as "${hold.policy}" says`);
    else log.info(`auto_online_blocks is "${readAutoOnline(sysfs)}": hot-added memory already waits offline; nothing to hold`);
    return 0;
  } catch (e) {
    log.error(`could not hold the hot-add policy: ${describe(e)}`);
    return 1;
  }
}

/**
 * Give the hot-add policy back when its holder is gone: the guard's stop, the package's
 * removal, daxramd's final failure (OnFailure=). A live daxramd keeps its hold (it gives it back
 * when it stops).
 */
async function releaseHotplug(log: DaemonLog, root: string, lock: string, stateDir: string): Promise<number> {
  const {ctx} = guardContext(log, root, lock, stateDir);
  try {
    const r = await releaseHotplug0(ctx, 'daxram-hotplug-release');
    if (r.released) log.notice(`gave auto_online_blocks back its "${r.released.policy}" (held by ${r.released.by}, pid ${r.released.pid}, gone)${r.onlined.length ? `; onlined ${r.onlined.join(' ')}` : ''}`);
    else if (r.heldBy) log.notice(`${r.heldBy.by} (pid ${r.heldBy.pid}) holds the hot-add policy and gives it back when it stops`);
    else log.info('the hot-add policy is not held');
    return 0;
  } catch (e) {
    log.error(`could not give the hot-add policy back: ${describe(e)}`);
    return 1;
  }
}

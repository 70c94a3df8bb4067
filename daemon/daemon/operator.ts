// Operator actions from the CLI (online, offline, reassign) are recorded in the desired-state
// store *before* the engine acts, so a running daxramd that wakes on the resulting uevents
// already sees the new intent and never undoes it; the record survives restarts and reboots.
// `daxram forget DEVICE` hands the device back to the config.

import {Sysfs} from '../sysfs';
import {scanPlatform} from '../model/scan';
import {NotFoundError} from '../errors';
import {DEFAULT_STATE_DIR} from '../engine/context';
import {deviceKey, type DeviceMode, type Zone} from './config';
import {StateStore} from './state';

export interface OperatorArgs {
  root?: string;
  'state-dir'?: string;
  'dry-run'?: boolean;
}

export function stateDirOf(argv: OperatorArgs): string {
  return argv['state-dir'] ?? process.env.DAXRAM_STATE_DIR ?? DEFAULT_STATE_DIR;
}

/** Record what the operator asked for `device`; a no-op for --dry-run. */
export function recordOperatorAction(argv: OperatorArgs, device: string, mode: DeviceMode, action: string, opts: {zone?: string; online?: boolean} = {}): void {
  if (argv['dry-run']) return;
  const dev = scanPlatform(new Sysfs(argv.root ?? '/'), {memblocks: false}).devices.find((d) => d.name === device);
  if (!dev) throw new NotFoundError('no such dax device', {device, fix: 'list devices with: daxram list'});
  const zone = opts.zone === 'movable' || opts.zone === 'normal' ? (opts.zone as Zone) : undefined;
  new StateStore(stateDirOf(argv)).record([{key: deviceKey(dev), device, mode, zone, online: opts.online, action, at: new Date().toISOString()}]);
}

/**
 * reassign/provision re-lay a whole region: its devices (new ones included) become the
 * operator's, recorded as "reserved" (never onlined or offlined by the daemon) until a device
 * gets its own record (daxram online/offline) or the operator runs `daxram forget regionN`.
 */
export function recordOperatorRegion(argv: OperatorArgs, region: string, action: string): void {
  if (argv['dry-run']) return;
  if (!/^region[0-9]+$/.test(region)) return; // the engine reports a bad name with its own error
  new StateStore(stateDirOf(argv)).record([{key: `region:${region}`, device: region, mode: 'reserved', action, at: new Date().toISOString()}]);
}

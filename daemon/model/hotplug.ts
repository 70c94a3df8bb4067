// Memory-hotplug settings: what the kernel does with memory that kmem adds. block_size_bytes
// decides how much of a dax range kmem can use at all (each range is rounded inward to it);
// auto_online_blocks and online_policy decide which zone new blocks land in.

import type {Sysfs} from '../sysfs';
import {SysfsError} from '../errors';
import type {HotplugSettings} from './types';

export const MEMORY_DIR = '/sys/devices/system/memory';
export const NODE_DIR = '/sys/devices/system/node';
export const ONLINE_POLICY = '/sys/module/memory_hotplug/parameters/online_policy';
export const MEMMAP_ON_MEMORY = '/sys/module/memory_hotplug/parameters/memmap_on_memory';
const AUTO_ONLINE = `${MEMORY_DIR}/auto_online_blocks`;
const AUTO_ONLINE_VALUES = /^(offline|online|online_kernel|online_movable)$/;

const HEX_RE = /^(0x)?[0-9a-fA-F]+$/;

/** block_size_bytes is printed with %lx: hex, no 0x prefix ("8000000" is 128 MiB). */
export function parseBlockSize(raw: string, where: string): bigint {
  const s = raw.trim();
  if (!HEX_RE.test(s)) throw new SysfsError(`${where}: expected a hex block size, got "${raw}"`, {path: where});
  const v = BigInt(s.startsWith('0x') ? s : '0x' + s);
  // A block is a power of two of at least one page; anything else is not a kernel we understand.
  if (v < 4096n || (v & (v - 1n)) !== 0n) {
    throw new SysfsError(`${where}: block size ${raw} is not a power of two >= 4096`, {path: where});
  }
  return v;
}

/** block_size_bytes, or 0n without memory hotplug (kmem can add nothing there). */
export function readBlockSize(sysfs: Sysfs): bigint {
  const p = `${MEMORY_DIR}/block_size_bytes`;
  const raw = sysfs.readOptional(p);
  return raw === undefined ? 0n : parseBlockSize(raw, p);
}

/**
 * auto_online_blocks: what the kernel does with memory the moment it is hot-added; "unsupported"
 * without memory hotplug. Anything else is not a kernel we understand: an error, not a guess.
 */
export function readAutoOnline(sysfs: Sysfs): string {
  const v = sysfs.readOptional(AUTO_ONLINE)?.trim();
  if (v === undefined) return 'unsupported';
  if (!AUTO_ONLINE_VALUES.test(v)) throw new SysfsError(`${AUTO_ONLINE}: unexpected value "${v}"`, {path: AUTO_ONLINE});
  return v;
}

/** The boot switch memory_hotplug.memmap_on_memory: on (Y/1), force, off (N), or absent (not built). */
export function readMemmapOnMemory(sysfs: Sysfs): 'on' | 'force' | 'off' | 'absent' {
  const v = sysfs.readOptional(MEMMAP_ON_MEMORY)?.trim();
  if (v === undefined) return 'absent';
  if (v === 'force') return 'force';
  return v === 'Y' || v === '1' ? 'on' : 'off';
}

/**
 * The hot-add policy the kernel booted with: memhp_default_state= on the command line, else
 * the kernel's build default (CONFIG_MHP_DEFAULT_ONLINE_TYPE_* since 6.14,
 * CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE before), else "online" (Debian's kernels since 6.12).
 * For the one case where the policy a hold kept is lost (an unreadable hold file).
 */
export function bootHotplugPolicy(sysfs: Sysfs, release: string): string {
  const cmd = /(?:^|\s)memhp_default_state=(offline|online|online_kernel|online_movable)(?:\s|$)/.exec(sysfs.readOptional('/proc/cmdline') ?? '');
  if (cmd) return cmd[1];
  const config = sysfs.readOptional(`/boot/config-${release}`) ?? '';
  const newer = /^CONFIG_MHP_DEFAULT_ONLINE_TYPE_(OFFLINE|ONLINE_AUTO|ONLINE_KERNEL|ONLINE_MOVABLE)=y$/m.exec(config);
  if (newer) return {OFFLINE: 'offline', ONLINE_AUTO: 'online', ONLINE_KERNEL: 'online_kernel', ONLINE_MOVABLE: 'online_movable'}[newer[1]] as string;
  if (/^CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE=y$/m.test(config)) return 'online';
  if (/^# CONFIG_MEMORY_HOTPLUG_DEFAULT_ONLINE is not set$/m.test(config)) return 'offline';
  return 'online';
}

/**
 * Without CONFIG_MEMORY_HOTPLUG there is no memory directory: blockSize is 0n and a warning is
 * recorded, since listing devices is still useful; anything kmem-related reports 0 capacity.
 */
export function readHotplug(sysfs: Sysfs, warnings: string[]): HotplugSettings {
  const bsPath = `${MEMORY_DIR}/block_size_bytes`;
  const raw = sysfs.readOptional(bsPath);
  let blockSize = 0n;
  if (raw === undefined) {
    warnings.push(`${bsPath}: absent; kernel has no memory hotplug, kmem cannot add memory`);
  } else {
    blockSize = parseBlockSize(raw, bsPath);
  }
  const autoOnlineBlocks = readAutoOnline(sysfs);
  const onlinePolicy = sysfs.readOptional(ONLINE_POLICY);
  const mm = readMemmapOnMemory(sysfs);
  const settings: HotplugSettings = {blockSize, autoOnlineBlocks};
  if (onlinePolicy !== undefined) settings.onlinePolicy = onlinePolicy;
  if (mm !== 'absent') settings.memmapOnMemory = mm;
  return settings;
}

// The running boot, by the id the kernel draws at each start: what a record of the kernel's own
// settings belongs to (they start again from their defaults at the next boot).

import type {Sysfs} from '../sysfs';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** This boot's id ('' where the kernel shows none). */
export function readBootId(sysfs: Sysfs): string {
  return sysfs.readOptional(BOOT_ID)?.trim() ?? '';
}

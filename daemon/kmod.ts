// Kernel modules daxram needs (kmem, device_dax, msr): loaded on demand, as daxctl loads kmem,
// so an operator never has to. modprobe is run with an argv (no shell) and only when the
// module's /sys/module directory is missing; under daxramd's unit (ProtectKernelModules) the
// modules-load.d file loads them at boot instead and a failure here is reported, not fatal.

import {spawnSync} from 'node:child_process';
import type {Sysfs} from './sysfs';
import {KernelError} from './errors';

/** What each module is for, in the words an operator needs when it cannot be loaded. */
export const MODULE_PURPOSE: Record<string, string> = {
  kmem: 'the kmem driver hot-adds a dax range as System RAM (CONFIG_DEV_DAX_KMEM)',
  device_dax: 'the device_dax driver gives a device back to applications as /dev/daxX.Y (CONFIG_DEV_DAX)',
  dax_cxl: 'the dax_cxl driver makes a dax region of a CXL RAM region (CONFIG_DEV_DAX_CXL)',
  msr: 'the msr driver lets daxram read MCG_CAP, whether the CPU recovers from machine checks (CONFIG_X86_MSR)',
};

export interface ModuleLoader {
  /** Loads `name` unless present; returns true when it loaded it now. Throws KernelError naming the module. */
  ensure(name: string, device?: string): boolean;
}

/** Present: built in or loaded (both show /sys/module/NAME). */
export function modulePresent(sysfs: Sysfs, name: string): boolean {
  return sysfs.exists(`/sys/module/${name}`);
}

export function modprobeLoader(sysfs: Sysfs, onLoad: (name: string) => void = () => undefined): ModuleLoader {
  return {
    ensure(name, device) {
      if (!/^[a-z0-9_]+$/.test(name)) throw new KernelError(`refusing to load module "${name}": not a module name`, {device});
      if (modulePresent(sysfs, name)) return false;
      const r = spawnSync('modprobe', ['-q', name], {encoding: 'utf8', timeout: 60_000});
      if (r.status !== 0) {
        throw new KernelError(`modprobe ${name} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`, {
          device: device ?? name,
          syscall: 'modprobe',
          fix: `load it yourself (modprobe ${name}): ${MODULE_PURPOSE[name] ?? 'daxram needs it'}`,
        });
      }
      onLoad(name);
      return true;
    },
  };
}

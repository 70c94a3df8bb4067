// The kernel pseudo-filesystems daxram reads poison through (tracefs for the CXL poison list,
// debugfs for Clear Poison), mounted on demand the way systemd mounts them at boot, so an
// operator never has to. mount(8) runs with an argv, never a shell.

import {spawnSync} from 'node:child_process';
import {KernelError} from './errors';

const ALLOWED: Record<string, string> = {tracefs: '/sys/kernel/tracing', debugfs: '/sys/kernel/debug'};

export function mountPseudoFs(fstype: 'tracefs' | 'debugfs', where: string): void {
  if (ALLOWED[fstype] !== where) throw new KernelError(`refusing to mount ${fstype} on ${where}`, {path: where});
  const r = spawnSync('mount', ['-t', fstype, fstype, where], {encoding: 'utf8', timeout: 30_000});
  if (r.status !== 0) {
    throw new KernelError(`mount -t ${fstype} ${where} failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`, {
      path: where,
      syscall: 'mount',
      fix: `mount it yourself (mount -t ${fstype} ${fstype} ${where}); systemd does at boot`,
    });
  }
}

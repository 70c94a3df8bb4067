// Where daxram keeps things on a host. One list, so the CLI, daxramd, the unit file and the
// docs cannot drift apart.

/** Our configuration: daxram.conf and conf.d/. */
export const ETC_DIR = '/etc/daxram';
/** daxctl's reconfigure-device sections, honoured too. */
export const DAXCTL_DIR = '/etc/daxctl.conf.d';
/** Operator records, the intent journals, the last good configuration (StateDirectory=daxram). */
export const STATE_DIR = '/var/lib/daxram';
/** flock(2) file shared by the CLI and daxramd: one transition at a time (RuntimeDirectory=daxram). */
export const LOCK_PATH = '/run/daxram/lock';
/** daxramd's control socket. */
export const SOCKET_PATH = '/run/daxram/daxramd.sock';
/** node_exporter's textfile collector directory. */
export const METRICS_DIR = '/var/lib/prometheus/node-exporter';

/** A host path as seen under --root (a fixture tree); the path itself for the real root. */
export function underRoot(root: string | undefined, p: string): string {
  return !root || root === '/' ? p : `${root.replace(/\/+$/, '')}${p}`;
}

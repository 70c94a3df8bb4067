// A fixture tree (test/helpers/fixture.ts) that answers writes the way the 6.1 kernel does for
// the engine's objects: dax driver bind/unbind/new_id (kmem hot-adds and removes memoryN),
// memoryN/state (EINVAL on the current state, EHWPOISON on poisoned blocks), and
// hard_offline_page (HardwareCorrupted). Faults can be injected per path to drive every
// error path; every write is recorded in order so tests check exactly what happened.

import * as fs from 'node:fs';
import * as path from 'node:path';
import {KernelError} from '../../daemon/errors';
import {Sysfs} from '../../daemon/sysfs';
import {writeZoneinfo, type Fixture} from './fixture';

const ERRNO: Record<string, number> = {EBUSY: 16, EINVAL: 22, ENXIO: 6, ENODEV: 19, EEXIST: 17, EHWPOISON: 133};
const MEM = '/sys/devices/system/memory';

interface Fault {
  match: RegExp;
  code: string;
  times: number;
  value?: string;
}

export class FakeKernel extends Sysfs {
  readonly writes: Array<{path: string; value: string}> = [];
  private faults: Fault[] = [];
  /** memoryN ids holding hwpoisoned pages. */
  readonly poisonedBlocks = new Set<number>();
  readonly poisonedPages: bigint[] = [];
  /** Set when kmem was unbound with a block online: the kernel strands the range. */
  stranded = false;
  /** Writes to memoryN/state are accepted but ignored (a block that never goes offline). */
  stuckBlocks = new Set<number>();
  /** hard_offline_page accepted but HardwareCorrupted not counted (to test verification). */
  silentPoison = false;
  /** Called after kmem hot-adds a device's blocks (to stage a racing hot-add elsewhere). */
  onBind?: () => void;

  constructor(readonly fx: Fixture) {
    super(fx.root);
    fs.mkdirSync(fx.path('/proc'), {recursive: true});
    if (!fs.existsSync(fx.path('/proc/meminfo'))) fs.writeFileSync(fx.path('/proc/meminfo'), 'MemTotal:        2097152 kB\nHardwareCorrupted:     0 kB\n');
    fs.mkdirSync(fx.path('/dev'), {recursive: true});
    for (const d of this.list('/sys/bus/dax/devices')) if (this.linkName(`/sys/bus/dax/devices/${d}/driver`) === 'device_dax') this.makeChardev(d, true);
  }

  /** Make writes to kernel paths matching `match` fail with `code`, `times` times (default always). */
  fail(match: RegExp, code: string, times = Infinity, value?: string): void {
    this.faults.push({match, code, times, value});
  }

  get bs(): bigint {
    return BigInt('0x' + this.read(`${MEM}/block_size_bytes`).trim());
  }

  hardwareCorrupted(): number {
    return Number(/HardwareCorrupted:\s+(\d+)/.exec(fs.readFileSync(this.fx.path('/proc/meminfo'), 'utf8'))![1]) * 1024;
  }

  /** The chardev's content: what a devdax user would map. Non-zero bytes count. */
  nonZero(dev: string): number {
    const b = fs.readFileSync(this.media(dev));
    let n = 0;
    for (const x of b) if (x) n++;
    return n;
  }

  override writeAttr(objectDir: string, name: string, attr: string, value: string): void {
    const file = this.validate(objectDir, name, attr);
    this.writes.push({path: file, value});
    const f = this.faults.find((x) => x.times > 0 && x.match.test(file) && (x.value === undefined || x.value === value));
    if (f) {
      f.times--;
      this.throwErr(file, name, value, f.code);
    }
    const m = /^\/sys\/bus\/dax\/drivers\/(device_dax|kmem)\/(bind|unbind|new_id|remove_id)$/.exec(file);
    if (m) {
      this.driverOp(m[1], m[2], value, file);
      return writeZoneinfo(this.fx.root);
    }
    const b = /^\/sys\/devices\/system\/memory\/memory(\d+)\/state$/.exec(file);
    if (b) {
      this.blockState(Number(b[1]), value, file, name);
      return writeZoneinfo(this.fx.root);
    }
    if (file === `${MEM}/hard_offline_page`) return this.hardOffline(BigInt(value), file);
    fs.writeFileSync(this.p(file), value);
  }

  private throwErr(file: string, device: string, value: string, code: string): never {
    const errno = ERRNO[code] ?? 5;
    // Node names errnos libuv knows; EHWPOISON comes through as a bare number, as on a real kernel.
    const cause = Object.assign(new Error(`${code}: write`), {code: code === 'EHWPOISON' ? 'Unknown system error -133' : code, errno: -errno, syscall: 'write'});
    throw new KernelError(`writing "${value}" to ${file} failed: ${cause.code}`, {device, path: file, syscall: 'write', cause});
  }

  private daxDir(dev: string): string {
    return this.real(`/sys/bus/dax/devices/${dev}`);
  }

  private driverOf(dev: string): string | undefined {
    return this.linkName(`/sys/bus/dax/devices/${dev}/driver`);
  }

  private driverOp(drv: string, op: string, dev: string, file: string): void {
    if (!this.exists(`/sys/bus/dax/devices/${dev}`)) this.throwErr(file, drv, dev, 'ENODEV');
    if (op === 'new_id' || op === 'remove_id') {
      if (op === 'new_id' && !this.driverOf(dev)) {
        try {
          this.probe(drv, dev);
        } catch {
          /* driver_attach ignores probe errors; bind reports them */
        }
      }
      return;
    }
    if (op === 'bind') {
      if (this.driverOf(dev)) this.throwErr(file, drv, dev, 'EBUSY');
      return this.probe(drv, dev, file);
    }
    // unbind
    if (this.driverOf(dev) !== drv) this.throwErr(file, drv, dev, 'ENODEV');
    if (drv === 'kmem') {
      const ids = this.blocksOf(dev);
      if (ids.some((id) => this.read(`${MEM}/memory${id}/state`).trim() !== 'offline')) {
        // dev_dax_kmem_remove: remove_memory fails, the driver detaches anyway: stranded.
        this.stranded = true;
      } else {
        for (const id of ids) this.removeBlock(id);
      }
    } else {
      fs.rmSync(this.fx.path(`/dev/${dev}`), {force: true});
    }
    this.setDriver(dev, undefined);
  }

  private probe(drv: string, dev: string, file = `/sys/bus/dax/drivers/${drv}/bind`): void {
    const dir = this.daxDir(dev);
    if (drv === 'kmem') {
      if (this.readInt(`${dir}/target_node`) < 0) this.throwErr(file, drv, dev, 'EINVAL');
      const ids = this.blocksOf(dev);
      if (ids.length === 0) this.throwErr(file, drv, dev, 'EINVAL');
      const auto = this.read(`${MEM}/auto_online_blocks`).trim();
      const node = this.readInt(`${dir}/target_node`);
      for (const id of ids) this.addBlock(id, node, auto);
    } else {
      this.makeChardev(dev, false);
    }
    this.setDriver(dev, drv);
    if (drv === 'kmem') this.onBind?.();
  }

  /** Memory hot-added by someone else (a DIMM, virtio-mem): `count` blocks from `first` on `node`, as auto_online_blocks says. */
  hotAdd(first: number, count: number, node: number): void {
    const auto = this.read(`${MEM}/auto_online_blocks`).trim();
    for (let id = first; id < first + count; id++) this.addBlock(id, node, auto);
    writeZoneinfo(this.fx.root);
  }

  /** memoryN appears on `node`, online or not as auto_online_blocks says, as add_memory() does. */
  private addBlock(id: number, node: number, auto: string): void {
    const d = this.fx.path(`${MEM}/memory${id}`);
    fs.mkdirSync(d);
    const on = auto !== 'offline';
    const zone = auto === 'online_movable' ? 'Movable' : 'Normal';
    for (const [k, v] of Object.entries({state: on ? 'online' : 'offline', valid_zones: on ? zone : 'Normal Movable', phys_index: id.toString(16).padStart(8, '0'), removable: '1', uevent: ''})) {
      fs.writeFileSync(path.join(d, k), v + '\n');
    }
    const nd = `/sys/devices/system/node/node${node}`;
    fs.mkdirSync(this.fx.path(nd), {recursive: true});
    fs.symlinkSync(path.posix.relative(`${MEM}/memory${id}`, nd), path.join(d, `node${node}`));
  }

  /** The device's capacity, kept across driver changes: what RAM users leave behind. */
  media(dev: string): string {
    return this.fx.path(`/dev/.media-${dev}`);
  }

  /** /dev/daxX.Y exists only while device_dax holds the device: a hard link to the media. */
  private makeChardev(dev: string, pattern: boolean): void {
    const m = this.media(dev);
    if (!fs.existsSync(m)) {
      const size = Number(this.readBig(`/sys/bus/dax/devices/${dev}/size`));
      const fd = fs.openSync(m, 'w');
      fs.ftruncateSync(fd, size); // sparse
      if (pattern) fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 0);
      fs.closeSync(fd);
    }
    const p = this.fx.path(`/dev/${dev}`);
    if (!fs.existsSync(p)) fs.linkSync(m, p);
  }

  /** Pretend processes used the RAM: scribble into the media at an offset. */
  scribble(dev: string, offset: number): void {
    const fd = fs.openSync(this.media(dev), 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, offset);
    fs.closeSync(fd);
  }

  private setDriver(dev: string, drv: string | undefined): void {
    const dir = this.daxDir(dev);
    const link = this.fx.path(`${dir}/driver`);
    const old = this.driverOf(dev);
    if (old) {
      fs.rmSync(link, {force: true});
      fs.rmSync(this.fx.path(`/sys/bus/dax/drivers/${old}/${dev}`), {force: true});
    }
    if (drv) {
      fs.symlinkSync(path.posix.relative(dir, `/sys/bus/dax/drivers/${drv}`), link);
      fs.symlinkSync(path.posix.relative(`/sys/bus/dax/drivers/${drv}`, dir), this.fx.path(`/sys/bus/dax/drivers/${drv}/${dev}`));
    }
  }

  blocksOf(dev: string): number[] {
    const dir = this.daxDir(dev);
    const bs = this.bs;
    const ids: number[] = [];
    for (const m of this.list(dir, /^mapping\d+$/)) {
      const s = this.readBig(`${dir}/${m}/start`);
      const e = this.readBig(`${dir}/${m}/end`) + 1n;
      for (let a = ((s + bs - 1n) / bs) * bs; a + bs <= e; a += bs) ids.push(Number(a / bs));
    }
    return ids;
  }

  private removeBlock(id: number): void {
    fs.rmSync(this.fx.path(`${MEM}/memory${id}`), {recursive: true, force: true});
  }

  private blockState(id: number, value: string, file: string, name: string): void {
    const cur = this.read(`${MEM}/memory${id}/state`).trim();
    if (this.stuckBlocks.has(id)) return;
    if (value === 'offline') {
      if (cur === 'offline') this.throwErr(file, name, value, 'EINVAL');
      fs.writeFileSync(this.fx.path(`${MEM}/memory${id}/state`), 'offline\n');
      fs.writeFileSync(this.fx.path(`${MEM}/memory${id}/valid_zones`), 'Normal Movable\n');
      return;
    }
    if (!['online', 'online_kernel', 'online_movable'].includes(value)) this.throwErr(file, name, value, 'EINVAL');
    if (cur === 'online') this.throwErr(file, name, value, 'EINVAL');
    if (this.poisonedBlocks.has(id)) this.throwErr(file, name, value, 'EHWPOISON');
    fs.writeFileSync(this.fx.path(`${MEM}/memory${id}/state`), 'online\n');
    fs.writeFileSync(this.fx.path(`${MEM}/memory${id}/valid_zones`), (value === 'online_movable' ? 'Movable' : 'Normal') + '\n');
  }

  private hardOffline(addr: bigint, file: string): void {
    const id = Number(addr / this.bs);
    const st = this.readOptional(`${MEM}/memory${id}/state`);
    if (st?.trim() !== 'online') this.throwErr(file, 'memory', '0x' + addr.toString(16), 'ENXIO');
    if (this.poisonedPages.includes(addr)) this.throwErr(file, 'memory', '0x' + addr.toString(16), 'EHWPOISON');
    this.poisonedPages.push(addr);
    this.poisonedBlocks.add(id);
    if (this.silentPoison) return;
    const p = this.fx.path('/proc/meminfo');
    const text = fs.readFileSync(p, 'utf8');
    fs.writeFileSync(p, text.replace(/HardwareCorrupted:\s+(\d+) kB/, (_m, n) => `HardwareCorrupted:     ${Number(n) + 4} kB`));
  }
}

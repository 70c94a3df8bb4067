// The real addon on this machine's kernel (no NVDIMM bus here): the syscalls happen, errors
// carry code/errno/syscall, positioned reads and mmap writes do what they say. The ND ioctls
// against a real bus are proven in test/kernel/scrub.test.ts.

import test from 'ava';
import {spawnSync} from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {loadNative} from '../daemon/native';
import {MCG_SER_P, readMcgCap} from '../daemon/mce';
import {NdBusHandle} from '../daemon/ndctl';
import {KernelError} from '../daemon/errors';
import {MockNative} from './helpers/mock-native';

const native = loadNative();

function tmpFile(t: {teardown(fn: () => void): void}, content: Buffer | string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-native-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  const f = path.join(dir, 'f');
  fs.writeFileSync(f, content);
  return f;
}

test('ND ioctls on a non-ndctl fd reject with ENOTTY, errno and syscall', async (t) => {
  const fd = fs.openSync('/dev/null', 'r+');
  t.teardown(() => fs.closeSync(fd));
  for (const p of [
    native.arsCap(fd, 0n, 4096n),
    native.arsStart(fd, 0n, 4096n, 2, 0),
    native.arsStatus(fd, 4096),
    native.clearError(fd, 0n, 256n),
    native.ndCall(fd, 0, 7, Buffer.alloc(17), 4),
  ]) {
    const e = (await t.throwsAsync(p)) as Error & {code: string; errno: number; syscall: string};
    t.is(e.code, 'ENOTTY');
    t.is(e.errno, 25);
    t.is(e.syscall, 'ioctl');
  }
});

test('bad arguments throw synchronously, before any syscall', (t) => {
  t.throws(() => native.arsCap('x' as unknown as number, 0n, 0n), {instanceOf: TypeError});
  t.throws(() => native.arsCap(0, -1n, 0n), {instanceOf: RangeError});
  t.throws(() => native.arsStatus(0, 8), {instanceOf: RangeError});
  t.throws(() => native.arsStart(0, 0n, 0n, 1 << 20, 0), {instanceOf: RangeError});
});

test('NdBusHandle wraps ioctl errors as KernelError naming the bus and the device', async (t) => {
  const h = NdBusHandle.open(native, '/dev/null', {device: 'dax9.9'});
  t.teardown(() => h.close());
  const e = await t.throwsAsync(h.arsCap(0n, 4096n), {instanceOf: KernelError});
  t.is(e!.code, 'ENOTTY');
  t.is(e!.errno, 25);
  t.is(e!.syscall, 'ioctl');
  t.is(e!.device, 'dax9.9');
  t.is(e!.path, '/dev/null');
});

test('msrRead is a positioned 8-byte read at the register number', async (t) => {
  const buf = Buffer.alloc(0x200);
  buf.writeBigUInt64LE(0x0100_0c09n, 0x179);
  const f = tmpFile(t, buf);
  const fd = fs.openSync(f, 'r');
  t.teardown(() => fs.closeSync(fd));
  t.is(await native.msrRead(fd, 0x179n), 0x0100_0c09n);
  const e = (await t.throwsAsync(native.msrRead(fd, 0x1fcn))) as Error & {code: string; syscall: string};
  t.is(e.code, 'EIO', 'a short read is EIO, like a missing MSR');
  t.is(e.syscall, 'pread');
});

test('readMcgCap: SER_P from MCG_CAP, unknown when the msr device is absent', async (t) => {
  const buf = Buffer.alloc(0x200);
  buf.writeBigUInt64LE(MCG_SER_P | 0x0an, 0x179);
  const f = tmpFile(t, buf);
  const yes = await readMcgCap(native, f);
  t.is(yes.serP, 'yes');
  t.is(yes.banks, 10);
  buf.writeBigUInt64LE(0x0an, 0x179);
  fs.writeFileSync(f, buf);
  t.is((await readMcgCap(native, f)).serP, 'no');
  const absent = await readMcgCap(native, '/nonexistent/cpu/0/msr');
  t.is(absent.serP, 'unknown');
  t.regex(absent.reason!, /msr module/);
  t.is((await readMcgCap(undefined)).serP, 'unknown');
  const m = new MockNative();
  m.msrValue = MCG_SER_P;
  t.is((await readMcgCap(m, f)).serP, 'yes');
});

test('pollPri times out with 0 on an attribute that does not change', async (t) => {
  const f = tmpFile(t, '3+\n');
  const fd = fs.openSync(f, 'r');
  t.teardown(() => fs.closeSync(fd));
  // Regular files are always "readable" but never signal POLLPRI.
  const re = await native.pollPri(fd, 20);
  t.is(re & 0x2, 0);
});

test('integers are checked before any cast: NaN, fractions, negatives and values past 32 bits are RangeErrors, never fd 0 or fd 5', (t) => {
  const flock = (fd: unknown, op: unknown) => (native as unknown as {flock(fd: unknown, op: unknown): void}).flock(fd, op);
  for (const fd of [NaN, 2 ** 32 + 5, -1, 1.5, Infinity]) t.throws(() => flock(fd, 4 | 2), {instanceOf: RangeError, message: /fd must be an integer from 0 to 2147483647/}, String(fd));
  t.throws(() => flock(0, NaN), {instanceOf: RangeError});
  t.throws(() => flock('0', 6), {instanceOf: TypeError});
  t.throws(() => native.arsCap(0, NaN as unknown as bigint, 0n), {instanceOf: RangeError});
  t.throws(() => native.pollPri(0, 2 ** 31), {instanceOf: RangeError});
  t.throws(() => native.zeroDax(0, 0n, NaN as unknown as bigint), {instanceOf: RangeError});
});

test('zeroDax maps only a character device: a regular file (SIGBUS past its end) is refused; /dev/zero maps', async (t) => {
  const f = tmpFile(t, Buffer.alloc(4096, 0xa5));
  const fd = fs.openSync(f, 'r+');
  t.teardown(() => fs.closeSync(fd));
  t.throws(() => native.zeroDax(fd, 0n, 1n << 30n), {instanceOf: TypeError, message: /not a character device/});
  t.is(fs.readFileSync(f)[0], 0xa5);
  const z = fs.openSync('/dev/zero', 'r+');
  t.teardown(() => fs.closeSync(z));
  t.is(await native.zeroDax(z, 0n, 2n << 20n), 2n << 20n);
  // The kernel's own checks still apply: an offset off a page is EINVAL from mmap.
  const e = (await t.throwsAsync(native.zeroDax(z, 100n, 4096n))) as Error & {code: string; syscall: string};
  t.is(e.code, 'EINVAL');
  t.is(e.syscall, 'mmap');
});

test('an exception thrown by a watcher callback reaches process "uncaughtException" instead of aborting the process', (t) => {
  const code = `
    const {loadNative} = require(${JSON.stringify(path.join(__dirname, '..', 'daemon', 'native.js'))});
    const nat = loadNative();
    process.on('uncaughtException', (e) => { console.log('caught: ' + e.message); process.exit(3); });
    // stdin is a pipe with a byte in it: readable at once.
    new nat.FdWatcher(0, 1, () => { throw new Error('boom in a callback'); });`;
  const r = spawnSync(process.execPath, ['-e', code], {encoding: 'utf8', timeout: 20_000, input: 'x'});
  t.is(r.signal, null, r.stderr);
  t.is(r.status, 3, r.stderr);
  t.regex(r.stdout, /caught: boom in a callback/);
});

test('mallocTrim hands what glibc kept after a burst back to the kernel', (t) => {
  // 80 MB of small C allocations (Buffers below the mmap threshold), freed: glibc keeps the pages.
  const code = `
    const nat = require(${JSON.stringify(path.join(__dirname, '..', 'daemon', 'native.js'))}).loadNative();
    const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]);
    let a = [];
    for (let i = 0; i < 20000; i++) a.push(Buffer.allocUnsafeSlow(4000));
    a = null;
    gc();
    gc();
    const before = anon();
    const trimmed = nat.mallocTrim();
    console.log(JSON.stringify({before, trimmed, after: anon()}));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], {encoding: 'utf8', timeout: 20_000});
  t.is(r.status, 0, r.stderr);
  const {before, trimmed, after} = JSON.parse(r.stdout) as {before: number; trimmed: boolean; after: number};
  t.true(trimmed);
  t.true(after < before - 40_000, `RssAnon ${before} -> ${after} kB`);
});

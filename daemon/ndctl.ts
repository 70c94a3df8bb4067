// Bus ioctls on /dev/ndctlN: open the character device, hand the fd to the addon, turn its
// errors into KernelErrors that name the bus and the device being worked on.
//
// The kernel refuses ARS_START, CLEAR_ERROR and ND_CMD_CALL on an fd opened read-only (EPERM),
// so a handle is opened O_RDWR unless the caller only wants ARS_CAP/ARS_STATUS.

import * as fs from 'node:fs';
import {KernelError, NotFoundError} from './errors';
import {
  ArsCapResult,
  ArsStartResult,
  ArsStatusResult,
  ClearErrorResult,
  NativeBinding,
  NdCallResult,
  NFIT_CMD_ARS_INJECT_SET,
  ND_ARS_ERR_INJ_OPT_NOTIFY,
  NVDIMM_BUS_FAMILY_NFIT,
} from './native';

const ERRNO_FIX: Record<string, string> = {
  EPERM: 'open the bus read-write as root (ARS_START, CLEAR_ERROR and ND_CMD_CALL need write access)',
  EACCES: 'run as root: /dev/ndctlN is root-only',
  ENOTTY: 'this bus does not implement the command (check ndbusN/commands)',
  EBUSY: 'the kernel is scrubbing this bus; wait for ndbusN/nfit/scrub to drop its "+" and retry',
  EINVAL: 'the range must lie inside the ARS_CAP range and be aligned to clear_err_unit',
  ENXIO: 'the bus provider has gone away (driver unbound?)',
};

export interface BusHandleOptions {
  /** Opening read-only limits the handle to ARS_CAP and ARS_STATUS. */
  readOnly?: boolean;
  /** The object the work is for (dax0.0), named in errors beside the bus. */
  device?: string;
}

export class NdBusHandle {
  private constructor(
    readonly native: NativeBinding,
    /** /dev/ndctl0 */
    readonly dev: string,
    readonly fd: number,
    readonly device: string | undefined,
  ) {}

  /** Open /dev/ndctlN (or `devPath` under a fixture root). */
  static open(native: NativeBinding, dev: string, opts: BusHandleOptions = {}): NdBusHandle {
    let fd: number;
    try {
      fd = fs.openSync(dev, opts.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const msg = `cannot open ${dev}: ${(e as Error).message}`;
      if (code === 'ENOENT') throw new NotFoundError(msg, {device: opts.device ?? dev, path: dev, fix: 'is the bus still registered? see /sys/bus/nd/devices', cause: e});
      throw new KernelError(msg, {device: opts.device ?? dev, path: dev, fix: ERRNO_FIX[code ?? ''], cause: e});
    }
    return new NdBusHandle(native, dev, fd, opts.device);
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // closing twice is harmless here
    }
  }

  arsCap(address: bigint, length: bigint): Promise<ArsCapResult> {
    return this.wrap('ARS_CAP', () => this.native.arsCap(this.fd, address, length));
  }

  arsStart(address: bigint, length: bigint, type: number, flags = 0): Promise<ArsStartResult> {
    return this.wrap('ARS_START', () => this.native.arsStart(this.fd, address, length, type, flags));
  }

  arsStatus(outLength: number): Promise<ArsStatusResult> {
    return this.wrap('ARS_STATUS', () => this.native.arsStatus(this.fd, outLength));
  }

  clearError(address: bigint, length: bigint): Promise<ClearErrorResult> {
    return this.wrap('CLEAR_ERROR', () => this.native.clearError(this.fd, address, length));
  }

  ndCall(family: number, command: number, input: Buffer, outLength: number): Promise<NdCallResult> {
    return this.wrap('ND_CMD_CALL', () => this.native.ndCall(this.fd, family, command, input, outLength));
  }

  /**
   * NFIT "ARS error inject" (a bus DSM through ND_CMD_CALL; nfit_test implements it): mark
   * [address, address+length) as poisoned. notify=true also asks the platform to raise a
   * machine-check notification, which makes the kernel start its own scrub.
   * Returns the firmware status of the injection (0 = success).
   */
  async injectError(address: bigint, length: bigint, notify = false): Promise<number> {
    // struct nd_cmd_ars_err_inj: u64 base, u64 length, u8 options | u32 status (packed)
    const input = Buffer.alloc(17);
    input.writeBigUInt64LE(address, 0);
    input.writeBigUInt64LE(length, 8);
    input.writeUInt8(notify ? 1 << ND_ARS_ERR_INJ_OPT_NOTIFY : 0, 16);
    const r = await this.ndCall(NVDIMM_BUS_FAMILY_NFIT, NFIT_CMD_ARS_INJECT_SET, input, 4);
    return r.output.readUInt32LE(0);
  }

  private async wrap<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      throw kernelError(e, what, this.dev, this.device);
    }
  }
}

/** A KernelError for a failed bus ioctl, naming the bus and the device it was for. */
export function kernelError(e: unknown, what: string, dev: string, device?: string): KernelError {
  const err = e as {code?: string; message?: string};
  const who = device ? `${device} (${dev})` : dev;
  return new KernelError(`${what} on ${who} failed: ${err.message ?? String(e)}`, {
    device: device ?? dev,
    path: dev,
    fix: ERRNO_FIX[err.code ?? ''],
    syscall: 'ioctl',
    cause: e,
  });
}

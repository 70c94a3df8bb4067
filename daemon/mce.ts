// CPU machine-check recovery: can this CPU survive consuming poison in user or movable memory?
// That needs software error recovery, MCG_CAP (MSR 0x179) bit 24 SER_P. The register is read
// through the msr driver's /dev/cpu/0/msr with a positioned read (the file offset is the MSR
// number). This reader only reads: loading msr is the caller's (daemon/live), and if the device
// is still absent (not x86, not root, no module) the answer is "unknown" with the reason.

import * as fs from 'node:fs';
import {NativeBinding} from './native';

export const MSR_IA32_MCG_CAP = 0x179n;
export const MCG_SER_P = 1n << 24n;
export const MCG_CMCI_P = 1n << 10n;
export const MCG_LMCE_P = 1n << 27n;

export interface McgCap {
  /** yes/no when MCG_CAP was read, unknown otherwise. */
  serP: 'yes' | 'no' | 'unknown';
  /** Raw MCG_CAP (bigint), when read. */
  mcgCap?: bigint;
  /** Number of MCA banks (MCG_CAP[7:0]). */
  banks?: number;
  cmciP?: boolean;
  lmceP?: boolean;
  /** Where it was read from, or why it could not be. */
  source: string;
  reason?: string;
}

/** Read MCG_CAP on CPU 0. Never throws: an unreadable register is "unknown" with a reason. */
export async function readMcgCap(native: NativeBinding | undefined, msrPath = '/dev/cpu/0/msr'): Promise<McgCap> {
  if (!native) return {serP: 'unknown', source: msrPath, reason: 'native addon not available'};
  let fd: number;
  try {
    fd = fs.openSync(msrPath, fs.constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? `${msrPath} is absent: the msr module is not loaded (modprobe msr) or the CPU is not x86`
        : `cannot open ${msrPath}: ${(e as Error).message}`;
    return {serP: 'unknown', source: msrPath, reason};
  }
  try {
    const v = await native.msrRead(fd, MSR_IA32_MCG_CAP);
    return {
      serP: (v & MCG_SER_P) !== 0n ? 'yes' : 'no',
      mcgCap: v,
      banks: Number(v & 0xffn),
      cmciP: (v & MCG_CMCI_P) !== 0n,
      lmceP: (v & MCG_LMCE_P) !== 0n,
      source: msrPath,
    };
  } catch (e) {
    // EIO: the CPU does not implement the MSR (the read faulted).
    return {serP: 'unknown', source: msrPath, reason: `reading MSR 0x179 failed: ${(e as Error).message}`};
  } finally {
    fs.closeSync(fd);
  }
}

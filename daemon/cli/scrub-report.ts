// What `daxram scrub` and `daxram clear` share: run the pipeline on one device, show progress on
// stderr while waiting, print the result as JSON or as a short report.

import {loadNative} from '../native';
import {scrubDevice, targetByName, ScrubResult} from '../scrub/pipeline';
import {fmtRange, totalBytes} from '../util/ranges';
import {Sysfs} from '../sysfs';
import {UsageError} from '../errors';
import type {Range} from '../model/types';
import {printJson} from './output';
import {clearPoison} from '../engine';
import {engineContext, type EngineArgs} from './engine-args';

export interface ScrubArgs extends EngineArgs {
  device: string;
  json?: boolean;
  root?: string;
  'dry-run'?: boolean;
  timeout?: number;
  verify?: boolean;
}

const DAX_RE = /^dax\d+\.\d+$/;

export async function runScrubVerb(argv: ScrubArgs, clear: boolean): Promise<ScrubResult> {
  if (!DAX_RE.test(argv.device)) {
    throw new UsageError(`"${argv.device}" is not a dax device name`, {device: argv.device, fix: 'name a device like dax0.0 (see daxram list)'});
  }
  const timeout = argv.timeout ?? 3600;
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a positive number of seconds`, {fix: 'e.g. --timeout 600'});
  const sysfs = new Sysfs(argv.root ?? '/');
  const target = targetByName(sysfs, argv.device);
  const tty = process.stderr.isTTY;
  let lastLine = '';
  const scrub = () => scrubDevice(lazyNative(target.bus !== undefined), sysfs, target, {
    clear,
    dryRun: !!argv['dry-run'],
    verify: argv.verify,
    timeoutMs: timeout * 1000,
    onProgress: (p) => {
      const line = `daxram: ${p.device}: ${p.message} (${(p.elapsedMs / 1000).toFixed(1)} s)`;
      // One line per change of message; on a terminal, rewrite it in place.
      if (line.replace(/\(.*s\)$/, '') === lastLine.replace(/\(.*s\)$/, '') && !tty) return;
      lastLine = line;
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    },
  });
  // Clearing writes to the media: through the engine (lock, journal, never on System RAM).
  const res = clear ? await clearPoison(engineContext(argv), argv.device, scrub) : await scrub();
  if (tty && lastLine) process.stderr.write('\r\x1b[K');
  if (argv.json) printJson(res);
  else process.stdout.write(describe(res, clear).join('\n') + '\n');
  // Poison left behind after a clear is a failed operation (exit 1); a scrub only reports.
  if (clear && !res.dryRun && res.remaining.length > 0) process.exitCode = 1;
  return res;
}

/** The addon is loaded only when a bus ioctl is really needed (not for hmem/CXL or fixtures without a bus). */
function lazyNative(needed: boolean) {
  return needed ? loadNative() : (undefined as never);
}

function list(title: string, rs: Range[]): string[] {
  if (rs.length === 0) return [`  ${title}: none`];
  return [`  ${title}: ${rs.length} range(s), ${totalBytes(rs)} bytes`, ...rs.map((r) => `    ${fmtRange(r)}`)];
}

export function describe(r: ScrubResult, clear: boolean): string[] {
  const out: string[] = [];
  const where = r.bus ? `${r.bus} (${r.provider}), ${r.region}` : 'no NVDIMM bus';
  out.push(`${r.device}: ${where}, ${r.ranges.map(fmtRange).join(', ')}`);
  if (!r.scrubSupported) {
    out.push(`  scrub unsupported: ${r.reason}`);
    out.push(...list('poison known to the kernel (region badblocks)', r.remaining));
    return out;
  }
  out.push(`  ${r.scrubType} scrub, clear_err_unit ${r.clearErrUnit} B${r.waitedForKernelScrub ? `, waited ${(r.kernelScrubWaitMs / 1000).toFixed(1)} s for the kernel's own scrub` : ''}`);
  out.push(...list('found', r.found));
  if (clear) {
    if (r.dryRun) {
      out.push(`  would issue ${r.ioctls.length} ND_IOCTL_CLEAR_ERROR ioctl(s) (dry run, nothing cleared):`);
      for (const i of r.ioctls) out.push(`    ioctl(${i.dev}, ND_IOCTL_CLEAR_ERROR, address=0x${i.address.toString(16)}, length=${i.length})`);
    } else {
      out.push(...list('cleared', r.cleared));
      for (const f of r.failed) out.push(`  FAILED ${fmtRange(f.range)}: ${f.error}`);
    }
    if (r.unclearable.length) out.push(...list('cannot be cleared from inside this device', r.unclearable));
  }
  out.push(...list('remaining', r.remaining));
  if (r.verified !== undefined) out.push(`  verified by a second scrub and region badblocks: ${r.verified ? 'clean' : 'POISON REMAINS'}`);
  if (r.badblocksElsewhere.length) out.push(`  note: ${r.region} has ${r.badblocksElsewhere.length} badblocks range(s) outside this device (not touched)`);
  const d = r.durations;
  out.push(`  time: ${(d.totalMs / 1000).toFixed(2)} s (scrub ${(d.scrubMs / 1000).toFixed(2)} s, clear ${(d.clearMs / 1000).toFixed(2)} s, verify ${(d.verifyMs / 1000).toFixed(2)} s)`);
  return out;
}

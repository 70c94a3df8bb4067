// An engine Context on a FakeKernel: a temp state dir and lock, a fake zeroDax that zeroes the
// fixture's /dev file (recording each chunk), and gate sources that pass unless a test says.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type {Context} from '../../daemon/engine';
import {makePolicy, type Policy} from '../../daemon/policy/settings';
import type {MceReport, PoisonReport} from '../../daemon/policy/sources';
import {buildFixture, GiB, type FixtureSpec} from './fixture';
import {FakeKernel} from './fakekernel';

export interface EngineTestbed {
  k: FakeKernel;
  ctx: Context;
  zeroCalls: Array<{offset: bigint; length: bigint}>;
  warnings: string[];
  cleanup(): void;
}

export function qemuSpec(over: Partial<FixtureSpec> = {}, dax: Record<string, unknown> = {}): FixtureSpec {
  return {
    nodes: [0, 1],
    buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, targetNode: 1, namespaces: [{mode: 'devdax', size: GiB, dax}]}]}],
    ...over,
  };
}

export function testbed(
  spec: FixtureSpec = qemuSpec(),
  o: {policy?: Partial<Policy>; poison?: Partial<PoisonReport>; serP?: boolean | undefined; dryRun?: boolean} = {},
): EngineTestbed {
  const fx = buildFixture(spec);
  const k = new FakeKernel(fx);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-engine-'));
  const zeroCalls: EngineTestbed['zeroCalls'] = [];
  const warnings: string[] = [];
  const mce: MceReport = {serP: 'serP' in o ? o.serP : true, source: 'test'};
  const ctx: Context = {
    sysfs: k,
    native: {
      flock: () => undefined,
      zeroDax: async (fd, offset, length) => {
        zeroCalls.push({offset, length});
        fs.writeSync(fd, Buffer.alloc(Number(length)), 0, Number(length), Number(offset));
        return length;
      },
    },
    stateDir: path.join(state, 'state'),
    lockPath: path.join(state, 'run', 'lock'),
    log: {info() {}, warn: (m) => warnings.push(m)},
    dryRun: !!o.dryRun,
    policy: makePolicy(o.policy ?? {}),
    poison: async () => ({scrubSupported: true, found: [], cleared: [], remaining: [], source: 'test', ...o.poison}),
    mce: async () => mce,
  };
  return {
    k,
    ctx,
    zeroCalls,
    warnings,
    cleanup() {
      fx.cleanup();
      fs.rmSync(state, {recursive: true, force: true});
    },
  };
}

export function driver(k: FakeKernel, dev = 'dax0.0'): string | undefined {
  return k.linkName(`/sys/bus/dax/devices/${dev}/driver`);
}

export function blockStates(k: FakeKernel, dev = 'dax0.0'): string[] {
  return k.blocksOf(dev).map((id) => {
    const st = k.readOptional(`/sys/devices/system/memory/memory${id}/state`);
    if (st === undefined) return 'absent';
    return `${st.trim()}:${(k.readOptional(`/sys/devices/system/memory/memory${id}/valid_zones`) ?? '').trim()}`;
  });
}

// Property tests (fast-check) of what reads untrusted input: the configuration parser and the
// control socket's protocol. Bounded: a fixed number of runs each, fast-check's seed and the
// shrunk counterexample in the message when a property fails (rerun with that seed).

import test from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {ConfigError} from '../daemon/errors';
import {parseConfig} from '../daemon/config/config';
import {parseDaxctlConf} from '../daemon/config/daxctl-conf';
import {ControlServer, MAX_REQUEST} from '../daemon/ipc/socket';

const RUNS = 400;

// Lines that look like a configuration, and lines that do not.
const key = fc.constantFrom('uuid', 'region', 'resource', 'dax', 'mode', 'zone', 'online', 'node', 'poison', 'mce-recovery', 'security', 'unscanned', 'memmap', 'metrics-dir', 'log-level', 'unmatched', 'tiering', 'nvdimm.uuid', 'movable', 'x');
const value = fc.oneof(
  fc.constantFrom('ram', 'devdax', 'reserved', 'movable', 'normal', 'true', 'off', '1', '0x240000000', 'dax0.0', '11111111-2222-4333-8444-555555555555', '1e20', '-1', '99999999999999999999', 'system-ram', '"quoted # x"', '"unterminated'),
  fc.string({maxLength: 40}),
  fc.string({unit: 'grapheme', maxLength: 20}),
);
const line = fc.oneof(
  fc.tuple(fc.constantFrom('[device ', '[daemon', '[reconfigure-device ', '[', '[ device  ', '[Device\t'), fc.string({maxLength: 30}), fc.constantFrom(']', '', ' ]', ']]', '] # c')).map(([a, b, c]) => a + b + c),
  fc.tuple(key, fc.constantFrom(' = ', '=', ' =', ' : '), value).map(([k, s, v]) => k + s + v),
  fc.constantFrom('', '# comment', '; comment', '   ', '\r'),
  fc.string({maxLength: 60}),
  fc.string({unit: 'binary', maxLength: 60}),
);
const text = fc.array(line, {maxLength: 30}).map((ls) => ls.join('\n'));

test('the config parser, on any text: a Config, or a ConfigError naming the file and line; nothing else', (t) => {
  fc.assert(
    fc.property(text, (s) => {
      for (const parse of [() => parseConfig([{file: 'f.conf', text: s}]), () => parseDaxctlConf([{file: 'f.conf', text: s}])]) {
        try {
          parse();
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          if (!/^f\.conf:\d+: /.test(e.message)) throw new Error(`error without file:line: ${e.message}`);
        }
      }
    }),
    {numRuns: RUNS},
  );
  t.pass();
});

test('a valid device rule, however it is written, parses back to what was written', (t) => {
  const rule = fc.record({
    label: fc.stringMatching(/^[a-z][a-z0-9_-]{0,15}$/),
    how: fc.oneof(
      fc.uuid().map((u) => ({uuid: u})),
      fc.record({region: fc.option(fc.integer({min: 0, max: 1000}), {nil: undefined}), resource: fc.bigInt({min: 0n, max: (1n << 64n) - 1n})}),
    ),
    mode: fc.constantFrom('ram', 'devdax', 'reserved'),
    zone: fc.constantFrom('movable', 'normal'),
    node: fc.option(fc.integer({min: 0, max: 1023}), {nil: undefined}),
    pad: fc.constantFrom('', ' ', '\t'),
  });
  fc.assert(
    fc.property(rule, (r) => {
      const lines = [`[device ${r.label}]`];
      if ('uuid' in r.how) lines.push(`uuid${r.pad}=${r.pad}${r.how.uuid}`);
      else {
        if (r.how.region !== undefined) lines.push(`region = ${r.how.region}`);
        lines.push(`resource = 0x${r.how.resource.toString(16)}   # where it starts`);
      }
      lines.push(`mode = ${r.mode}`, `zone=${r.zone}`);
      if (r.node !== undefined) lines.push(`node = ${r.node}`);
      const [d] = parseConfig([{file: 'f.conf', text: lines.join('\n') + '\n'}]).devices;
      const want = 'uuid' in r.how ? {uuid: r.how.uuid.toLowerCase()} : {daxRegion: r.how.region, resource: r.how.resource};
      return d.label === r.label && d.mode === r.mode && d.zone === r.zone && d.node === r.node &&
        d.match.uuid === (want as {uuid?: string}).uuid && d.match.resource === (want as {resource?: bigint}).resource && d.match.daxRegion === (want as {daxRegion?: number}).daxRegion;
    }),
    {numRuns: RUNS},
  );
  t.pass();
});

/** Send `bytes`, half-close, and collect everything the server says until it closes. */
function exchange(sock: string, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let got = '';
    c.on('data', (d) => {
      got += d.toString('utf8');
    });
    // The server may close mid-write after an oversize line: what it said is the answer.
    c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    c.on('close', () => resolve(got));
    c.on('connect', () => c.end(bytes));
  });
}

test('the control socket, on any bytes: one JSON answer per complete line, in order; never a crash, never a handler run for a bad request', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-fuzz-'));
  t.teardown(() => fs.rmSync(dir, {recursive: true, force: true}));
  let calls = 0;
  const s = new ControlServer(path.join(dir, 'run/d.sock'), {echo: (a) => (calls++, a)}, {maxRequest: 4096, idleTimeoutMs: 5_000});
  await s.listen();
  t.teardown(() => s.close());
  const request = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify({id: 1, verb: 'echo', args: {v}})),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.constantFrom('{"verb": "echo"', '{"verb": "nope"}', '{"verb": "echo", "args": []}', '{"verb": 1}', '[]', 'null', '{"verb": "__proto__"}', '{"verb": "constructor"}', '{"verb": "toString"}'),
    fc.string({maxLength: 100}),
    fc.string({unit: 'binary', maxLength: 100}),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(request, {maxLength: 8}), fc.boolean(), async (reqs, huge) => {
      const lines = reqs.map((r) => r.replace(/\n/g, ' '));
      if (huge) lines.push('x'.repeat(MAX_REQUEST));
      const before = calls;
      const got = await exchange(s.socketPath, Buffer.from(lines.map((l) => `${l}\n`).join('')));
      const answers = got.split('\n').filter(Boolean).map((a) => JSON.parse(a) as {ok: boolean; error?: {code?: string}});
      const wanted = lines.filter((l) => l.trim() !== '');
      const e2big = answers.findIndex((a) => a.error?.code === 'E2BIG');
      // Every line answered, unless an oversize line ended the connection (then it is the last answer).
      const ok = e2big >= 0 ? e2big === answers.length - 1 && answers.length <= wanted.length
        : answers.length === wanted.length && answers.every((a) => typeof a.ok === 'boolean') && calls - before === answers.filter((a) => a.ok).length;
      return ok;
    }),
    {numRuns: 150},
  );
  t.pass();
});

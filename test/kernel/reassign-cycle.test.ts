// reassign back and forth between RAM sizes on the real kernel, eight times in a row: each
// destroys namespaces the previous one made while the kernel is still unregistering the ones
// before (the async-unregister race seen once in CI), and each must land exactly on the size
// asked, with daxctl as the oracle.

import anyTest from 'ava';
import {kernelTest, runGuest, type GuestResult} from './harness';

const test = kernelTest(anyTest, {kernels: ['6.1', '6.12', 'newest']});

const SIZES = ['512M', '256M', '1G', '0', '640M', '128M', '1792M', '384M'];

const SCRIPT = String.raw`
set -u
O=$HARNESS_OUT
modprobe msr
node bin/daxram provision region0 --json > /dev/null 2> $O/provision.err; echo $? > $O/provision.rc
i=0
for ram in ${SIZES.join(' ')}; do
  i=$((i+1))
  node bin/daxram reassign region0 --ram $ram --json > $O/re$i.json 2> $O/re$i.err; echo $? > $O/re$i.rc
  daxctl list -D > $O/dax$i.json
done
ls /var/lib/daxram > $O/state-dir.txt
`;

let r: GuestResult;
test.before(async () => {
  r = await runGuest({script: SCRIPT, timeoutMs: 1_200_000, keepOutDir: !!process.env.DAXRAM_KEEP_GUEST});
});

const MiB = 2 ** 20;
const bytes = (s: string) => (s === '0' ? 0 : Number(s.slice(0, -1)) * (s.endsWith('G') ? 1024 : 1) * MiB);

test('eight reassigns in a row each land on exactly the RAM asked, the rest one devdax device, no journal left', (t) => {
  t.is(r.status, 0, r.stderr);
  t.is(r.readFile('provision.rc').trim(), '0', r.readFile('provision.err'));
  SIZES.forEach((size, k) => {
    const i = k + 1;
    t.is(r.readFile(`re${i}.rc`).trim(), '0', `reassign --ram ${size}: ${r.readFile(`re${i}.err`)}`);
    const d = r.readJson<Array<{mode: string; online_memblocks?: number; total_memblocks?: number; movable?: boolean}>>(`dax${i}.json`);
    const ram = d.filter((x) => x.mode === 'system-ram');
    t.is(ram.reduce((a, x) => a + (x.online_memblocks ?? 0) * 128 * MiB, 0), bytes(size), `--ram ${size}`);
    t.true(ram.every((x) => x.online_memblocks === x.total_memblocks && x.movable), `--ram ${size}: every block online, movable`);
    t.is(d.filter((x) => x.mode === 'devdax').length, 1, `--ram ${size}: the rest is one devdax device`);
  });
  const left = r.readFile('state-dir.txt').split('\n');
  t.false(left.includes('journal.json') || left.includes('layout.json'), left.join(' '));
});

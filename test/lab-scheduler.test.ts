// The kernel lab's guest scheduler (test/kernel/scheduler.ts), without guests: stand-in
// "QEMU" processes (sleep) held by client processes that are killed the way an ava timeout
// kills a worker. What must hold: one queue, longest first; a slot whose holder died is free
// again once its QEMU is gone or a zombie, and no such QEMU is left running.
import test, {type ExecutionContext} from 'ava';
import {spawn, spawnSync} from 'node:child_process';
import * as path from 'node:path';
import {acquireSlot, GuestQueue, serveScheduler, type SchedulerServer} from './kernel/scheduler';
import {processState} from './kernel/util';

const SCHEDULER_JS = path.join(__dirname, 'kernel', 'scheduler.js');
let n = 0;
const address = () => `\0daxram-scheduler-test-${process.pid}-${n++}`;

/** Polls `cond` every 20 ms for at most `ms`: the state change is asynchronous. */
async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/**
 * A client process that takes a slot, starts a stand-in QEMU (with the harness's parent-death
 * signal, or without it), reports its pid, says "holding <pid>" and waits to be killed.
 */
function holder(t: ExecutionContext, addr: string, qemu: 'pdeathsig' | 'orphan' | 'zombie'): Promise<{pid: number; qemuPid: number}> {
  const code = `
    const {spawn} = require('node:child_process');
    const {acquireSlot} = require(${JSON.stringify(SCHEDULER_JS)});
    acquireSlot({label: 'holder', file: 'holder', kernel: 't', estimateMs: 1}, ${JSON.stringify(addr)}).then((lease) => {
      const argv = ${JSON.stringify(qemu)} === 'pdeathsig' ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', 'sleep', '1000']]
        : ${JSON.stringify(qemu)} === 'orphan' ? ['/bin/sh', ['-c', 'sleep 1000 & echo $!']]
        : ['/bin/sh', ['-c', 'sleep 0 & exec sleep 1000']];
      const c = spawn(argv[0], argv[1], {stdio: ['ignore', 'pipe', 'ignore'], detached: ${JSON.stringify(qemu)} === 'orphan'});
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      let told = false;
      const report = (pid) => { if (told) return; told = true; lease.setQemuPid(pid); console.log('holding ' + pid); };
      // The orphan keeps sh's stdout open: report on its pid's line, not on close.
      if (${JSON.stringify(qemu)} === 'orphan') c.stdout.on('data', () => /\\n/.test(out) && report(Number(out.trim())));
      else if (${JSON.stringify(qemu)} === 'zombie') {
        // sh execs into sleep 1000, which never reaps the "sleep 0" it inherited: a zombie.
        const find = () => {
          const kids = require('node:fs').readFileSync('/proc/' + c.pid + '/task/' + c.pid + '/children', 'utf8').trim();
          if (kids) report(Number(kids.split(' ')[0])); else setTimeout(find, 20);
        };
        find();
      } else report(c.pid);
      setInterval(() => undefined, 1 << 30);
    });`;
  // Its own process group, so a failed test can end it and everything it started.
  const child = spawn(process.execPath, ['-e', code], {stdio: ['ignore', 'pipe', 'inherit'], detached: true});
  t.teardown(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch { /* gone */ }
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      const m = /holding (\d+)/.exec(out);
      if (m) resolve({pid: child.pid as number, qemuPid: Number(m[1])});
    });
    child.on('exit', (c) => reject(new Error(`holder exited ${c} before holding: ${out}`)));
  });
}

/** The coordinator has recorded the holder's QEMU (the holder's message is asynchronous). */
const knows = (s: SchedulerServer, qemuPid: number) => until(() => s.queue.status().running.some((r) => r.qemuPid === qemuPid));

async function withServer(slots: number, fn: (s: SchedulerServer, addr: string) => Promise<void>): Promise<void> {
  const addr = address();
  const s = await serveScheduler({address: addr, slots});
  try {
    await fn(s, addr);
  } finally {
    await s.close();
  }
}

test('one queue: the longest estimated work goes first, then first come', (t) => {
  const q = new GuestQueue(1);
  const order: string[] = [];
  const ask = (label: string, estimateMs: number) => q.enqueue({label, file: label, kernel: 'k', estimateMs, grant: () => order.push(label)});
  ask('first', 10);
  ask('short', 5);
  ask('long', 100);
  ask('short-later', 5);
  t.deepEqual(order, ['first']);
  t.deepEqual(q.status().queued.map((r) => r.label), ['long', 'short', 'short-later']);
  return (async () => {
    for (let i = 0; i < 3; i++) await q.release(q.status().running[0].slot, 'released');
    t.deepEqual(order, ['first', 'long', 'short', 'short-later']);
  })();
});

test('a second guest waits for the slot and gets it when the first releases', async (t) => {
  await withServer(1, async (s, addr) => {
    const a = await acquireSlot({label: 'a', file: 'a', kernel: 'k', estimateMs: 1}, addr);
    let bGot = false;
    const b = acquireSlot({label: 'b', file: 'b', kernel: 'k', estimateMs: 1}, addr).then((l) => {
      bGot = true;
      return l;
    });
    t.true(await until(() => s.queue.status().queued.length === 1));
    t.false(bGot);
    await a.release();
    const lb = await b;
    t.is(lb.slot, 0);
    await lb.release();
    t.deepEqual(s.queue.done.map((d) => [d.label, d.outcome]), [['a', 'released'], ['b', 'released']]);
  });
});

test('a holder killed like a timed-out worker: its QEMU dies with it (parent-death signal), the slot is free, no zombie', async (t) => {
  await withServer(1, async (s, addr) => {
    const h = await holder(t, addr, 'pdeathsig');
    t.is(processState(h.qemuPid), 'running');
    t.true(await knows(s, h.qemuPid));
    process.kill(h.pid, 'SIGKILL');
    t.true(await until(() => s.queue.status().running.length === 0), 'slot freed');
    t.true(await until(() => processState(h.qemuPid) === 'gone'), 'stand-in QEMU gone and reaped');
    t.is(s.queue.done[0].outcome, 'abandoned');
    const next = await acquireSlot({label: 'next', file: 'next', kernel: 'k', estimateMs: 1}, addr);
    t.is(next.slot, 0);
    await next.release();
  });
});

test('a holder that died leaving its QEMU running (no parent-death signal): the coordinator kills it before the slot is given again', async (t) => {
  await withServer(1, async (s, addr) => {
    const h = await holder(t, addr, 'orphan');
    t.is(processState(h.qemuPid), 'running');
    t.true(await knows(s, h.qemuPid));
    let granted = false;
    const next = acquireSlot({label: 'next', file: 'next', kernel: 'k', estimateMs: 1}, addr).then((l) => {
      granted = true;
      return l;
    });
    process.kill(h.pid, 'SIGKILL');
    const lease = await next;
    t.true(granted);
    t.not(processState(h.qemuPid), 'running', 'the orphan was killed before the grant');
    await lease.release();
    t.true(await until(() => processState(h.qemuPid) === 'gone'), 'reaped by init');
  });
});

test('a QEMU that is a zombie holds nothing: the slot is freed without waiting for its parent to reap it', async (t) => {
  await withServer(1, async (s, addr) => {
    const h = await holder(t, addr, 'zombie');
    // "sleep 0" exits on its own time: wait for it to be the zombie.
    t.true(await until(() => processState(h.qemuPid) === 'zombie'));
    t.true(await knows(s, h.qemuPid));
    process.kill(h.pid, 'SIGKILL');
    t.true(await until(() => s.queue.status().running.length === 0), 'slot freed');
    // The zombie's parent (sleep 1000) outlived the holder: end it, and init reaps both.
    const parent = Number(spawnSync('ps', ['-o', 'ppid=', '-p', String(h.qemuPid)], {encoding: 'utf8'}).stdout.trim());
    if (parent > 1) process.kill(parent, 'SIGKILL');
    t.true(await until(() => processState(h.qemuPid) === 'gone'));
  });
});

test('a waiter that goes away is dropped from the queue', async (t) => {
  await withServer(1, async (s, addr) => {
    const a = await acquireSlot({label: 'a', file: 'a', kernel: 'k', estimateMs: 1}, addr);
    const code = `require(${JSON.stringify(SCHEDULER_JS)}).acquireSlot({label: 'w', file: 'w', kernel: 'k', estimateMs: 1}, ${JSON.stringify(addr)})`;
    const w = spawn(process.execPath, ['-e', code], {stdio: 'ignore'});
    t.true(await until(() => s.queue.status().queued.length === 1));
    w.kill('SIGKILL');
    t.true(await until(() => s.queue.status().queued.length === 0));
    await a.release();
    t.true(s.queue.idle);
  });
});

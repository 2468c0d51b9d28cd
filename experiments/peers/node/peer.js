// The Node.js peer: the lab's shared tests with promises and async
// functions (one thread, the event loop), printed as JSONL records.
//
//   node peer.js rss|spawn_seq|spawn_conc|spawn_inc|yield N
//
// "Spawn" is calling an async function (it starts at once and returns a
// promise); "yield" is `await null` (a microtask turn).
'use strict';
const fs = require('fs');

const VERSION = `Node.js ${process.version}`;
function emit(experiment, metric, value, unit, n, method) {
  console.log(JSON.stringify({ experiment, impl: 'node', metric, value, unit, n, method: `${method}, ${VERSION}` }));
}
function rss() {
  const f = fs.readFileSync('/proc/self/statm', 'utf8').split(' ');
  return Number(f[1]) * 4096;
}
const now = () => Number(process.hrtime.bigint());

async function testRss(n) {
  let release;
  const gate = new Promise((r) => { release = r; });
  let parked = 0;
  if (global.gc) global.gc();
  const r0 = rss();
  const t0 = now();
  const tasks = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = (async () => { parked++; await gate; })();
  const el = now() - t0;
  const r1 = rss();
  release();
  await Promise.all(tasks);
  const m = 'RSS (/proc/self/statm) after N async functions parked on one promise minus before (promise array included)';
  emit('rss', 'rss_per_task', (r1 - r0) / n, 'B', n, m);
  emit('rss', 'rss_delta', r1 - r0, 'B', n, m);
  emit('rss', 'spawn_park_time', el / n, 'ns', n, 'time to spawn N and see all parked, per task');
  if (parked !== n) process.exit(3);
}

async function child(i) { return i + 1; }

// Warm is V8's steady state, not the second pass: V8 tiers the loop up
// (Sparkplug, Maglev, TurboFan) over its first tens of thousands of calls.
// On the 2-vCPU EPYC VM, N = 10,000: pass 1 289-346 ns, passes 2-6 51-129,
// passes 7-12 48-91 (four processes). The second pass, graded as warm
// before, read 52-251 ns across reports and overstated Node.js's cost
// against runtimes compiled ahead of time, whose second pass is their
// steady state. So: passes 2-6 warm the JIT up, and warm is the median of
// passes 7-11; the second pass is still reported, as its own metric.
const SEQ_WARMUP_PASSES = 5;
const SEQ_WARM_PASSES = 5;

async function testSeq(n) {
  const pass = async () => { let s = 0; for (let i = 0; i < n; i++) s += await child(i); return s; };
  const timed = async () => { const t0 = now(); await pass(); return now() - t0; };
  const cold = await timed();
  const warmup = [];
  for (let k = 0; k < SEQ_WARMUP_PASSES; k++) warmup.push(await timed());
  const warm = [];
  for (let k = 0; k < SEQ_WARM_PASSES; k++) warm.push(await timed());
  warm.sort((a, b) => a - b);
  const median = warm[Math.floor(warm.length / 2)];
  const first = 2 + SEQ_WARMUP_PASSES, last = first + SEQ_WARM_PASSES - 1;
  const m = 'call an async function, await it, N times';
  emit('spawn_seq', 'time_per_op', median / n, 'ns', n,
       `${m}, warm (median of passes ${first}-${last}, after ${SEQ_WARMUP_PASSES} passes of JIT warm-up)`);
  emit('spawn_seq', 'time_per_op_second_pass', warmup[0] / n, 'ns', n, `${m}, second pass (the JIT still tiering up)`);
  emit('spawn_seq', 'time_per_op_cold', cold / n, 'ns', n, `${m}, cold (first pass)`);
}

async function testConc(name, n) {
  let counter = 0;
  const inc = async () => { counter++; };
  const pass = async () => {
    const t0 = now();
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = inc();
    await Promise.all(ps);
    return now() - t0;
  };
  const cold = await pass();
  const warm = await pass();
  const m = 'call N async functions (each increments a counter), await Promise.all; one thread';
  emit(name, 'total_time', cold / 1e6, 'ms', n, `${m}, first pass (cold)`);
  emit(name, 'total_time_warm', warm / 1e6, 'ms', n, `${m}, second pass (warm)`);
}

async function testYield(n) {
  const k = Math.floor(n / 2);
  const y = async () => { for (let i = 0; i < k; i++) await null; };
  const t0 = now();
  await Promise.all([y(), y()]);
  emit('yield', 'time_per_yield', (now() - t0) / (2 * k), 'ns', n, 'two async functions interleave on `await null` (microtasks)');
}

(async () => {
  const [test, ns] = process.argv.slice(2);
  const n = Number(ns);
  if (test === 'rss') await testRss(n);
  else if (test === 'spawn_seq') await testSeq(n);
  else if (test === 'spawn_conc' || test === 'spawn_inc') await testConc(test, n);
  else if (test === 'yield') await testYield(n);
  else process.exit(2);
})();

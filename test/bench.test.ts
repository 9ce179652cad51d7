import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { type Run, summarise, type Turn } from '../bench/compare.ts';
import { type Results, verdict } from '../bench/report.ts';

const root = join(import.meta.dirname, '..');

/** `count` turns of `n` requests, each turn taking `ns` with every latency `lat` ns. */
const turns = (count: number, n: number, ns: number, lat: number): Turn[] =>
  Array.from({ length: count }, () => ({ n, ns, lat: Array(n).fill(lat) }));

test('bench: summarise gives the ratio of the wall times over all runs, and an interval that collapses when every turn is alike', () => {
  const run = (): Run => ({
    lib: { turns: turns(3, 2, 200, 100_000), cpuUs: 12 },
    raw: { turns: turns(3, 2, 100, 40_000), cpuUs: 6 },
  });
  const comparison = summarise('GET /1.0', 'canned', 1, [run(), run()]);
  assert.deepEqual(comparison, {
    name: 'GET /1.0',
    target: 'canned',
    mode: 'sequential',
    requests: 12,
    runs: 2,
    turns: 6,
    lib: { rps: 1e7, p50us: 100, p99us: 100, cpuUsPerReq: 2 },
    raw: { rps: 2e7, p50us: 40, p99us: 40, cpuUsPerReq: 1 },
    ratio: 0.5,
    ratioLow: 0.5,
    ratioHigh: 0.5,
    addedP50us: 60,
    addedP99us: 60,
    addedP50Interval: [60, 60],
    addedP99Interval: [60, 60],
    cpuRatio: 2,
  });
});

test('bench: the interval resamples the runs, so a run unlike the others widens it', () => {
  const alike: Run = {
    lib: { turns: turns(20, 1, 100, 1000), cpuUs: 1 },
    raw: { turns: turns(20, 1, 100, 1000), cpuUs: 1 },
  };
  const slow: Run = {
    lib: { turns: turns(20, 1, 200, 1000), cpuUs: 1 },
    raw: { turns: turns(20, 1, 100, 1000), cpuUs: 1 },
  };
  const comparison = summarise('wait', 'canned', 4, [alike, alike, slow]);
  // Over all turns: raw 6000 ns, lib 8000 ns.
  assert.equal(comparison.ratio, 0.75);
  assert.equal(comparison.mode, 'inflight');
  assert.equal(comparison.addedP99Interval, null);
  // Within a run every turn is alike, so a resample's ratio is set by how many slow runs it drew:
  // none 1 (p 0.30), one 0.75, two 0.6, three 0.5 (p 0.037, above the 2.5% cut).
  assert.deepEqual([comparison.ratioLow, comparison.ratioHigh], [0.5, 1]);
});

test('bench: the interval resamples the turns within a run too', () => {
  // One run of two turns: lib 100 and 200 ns against raw 100 and 100. A resample draws AA (ratio 1,
  // p 0.25), AB or BA (0.667, p 0.5) or BB (0.5, p 0.25).
  const run: Run = {
    lib: { turns: [...turns(1, 1, 100, 1000), ...turns(1, 1, 200, 1000)], cpuUs: 1 },
    raw: { turns: turns(2, 1, 100, 1000), cpuUs: 1 },
  };
  const comparison = summarise('GET /1.0', 'canned', 1, [run]);
  assert.deepEqual([comparison.ratioLow, comparison.ratio, comparison.ratioHigh], [0.5, 0.667, 1]);
});

test('bench: a target is met, missed or not told by its interval', () => {
  const judge = (ranges: Array<[number, number]>) =>
    verdict(
      ranges.map((range, i) => ({ name: `row ${i}`, range })),
      (row) => row.name,
      (row) => row.range,
      (ratio) => ratio >= 0.95,
      '0.95',
    );
  assert.equal(
    judge([
      [0.96, 1.1],
      [0.95, 0.99],
    ]),
    'met',
  );
  assert.equal(
    judge([
      [0.96, 1.1],
      [0.8, 0.94],
    ]),
    '**missed**: row 1',
  );
  assert.equal(
    judge([
      [0.9, 1.1],
      [0.96, 0.99],
    ]),
    'not told from 0.95 by this run: row 0',
  );
  assert.equal(
    judge([
      [0.9, 1.1],
      [0.8, 0.9],
    ]),
    '**missed**: row 1',
  );
  assert.equal(judge([]), 'not measured');
  // A row without an interval (a p99 of in-flight turns) cannot be judged.
  assert.equal(
    verdict(
      [{ name: 'in flight' }],
      (row) => row.name,
      () => null,
      (added) => added < 50,
      '50 µs',
    ),
    'not told from 50 µs by this run: in flight',
  );
});

test('npm run bench, scaled down: every part runs and measures what it says', { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'lxdapi-bench-')), 'results.json');
  // Its own build folder: a bench running meanwhile keeps bench/.work/plain.
  const plain = `test-${process.pid}`;
  try {
    const env = {
      ...process.env,
      BENCH_PLAIN: plain,
      BENCH_LXD: '0',
      BENCH_OUT: out,
      BENCH_RUNS: '2',
      BENCH_WARM: '50',
      BENCH_TURNS: '4',
      BENCH_TURN: '5',
      BENCH_INFLIGHT: '4',
      BENCH_INFLIGHT_TURN: '16',
      BENCH_OWN_TURNS: '2',
      BENCH_OWN_TURN: '50',
      BENCH_PULL_MB: '8',
      BENCH_BIG_MB: '2',
    };
    await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts')], {
      cwd: root,
      env,
      maxBuffer: 16 << 20,
      timeout: 240_000,
    });
    const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
    assert.deepEqual(
      results.comparisons.map((c) => [c.target, c.name, c.mode, c.runs, c.turns, c.requests]),
      [
        ['canned', 'GET /1.0', 'sequential', 2, 4, 20],
        ['canned', 'GET /1.0', 'inflight', 2, 2, 32],
        ['canned', 'instances?recursion=1', 'sequential', 2, 4, 4],
        ['canned', 'instances?recursion=1', 'inflight', 2, 2, 8],
        ['canned', 'operation wait', 'sequential', 2, 4, 20],
        ['canned', 'operation wait', 'inflight', 2, 2, 32],
      ],
    );
    for (const c of results.comparisons) {
      assert.ok(
        c.ratio > 0 && c.ratioLow <= c.ratio && c.ratio <= c.ratioHigh,
        `${c.name} ${c.mode}: ${c.ratioLow} <= ${c.ratio} <= ${c.ratioHigh}`,
      );
      if (c.mode !== 'sequential') continue;
      // Sequential turns of real requests never all take the same time: the intervals have width.
      assert.ok(c.ratioLow < c.ratioHigh, `${c.name}: ${c.ratioLow}..${c.ratioHigh}`);
      assert.ok(
        c.addedP99Interval && c.addedP99Interval[0] < c.addedP99Interval[1],
        `${c.name}: ${c.addedP99Interval}`,
      );
      assert.ok(Number.isFinite(c.lib.p99us) && Number.isFinite(c.raw.p99us) && c.lib.rps > 0 && c.raw.rps > 0);
    }
    // Every pull moved exactly what the canned server sent: the bare socket's count leaves out the response head.
    const MiB = 1024 * 1024;
    assert.deepEqual(
      Object.fromEntries(Object.entries(results.memory).map(([key, m]) => [key, m.bodyBytes])),
      // The listing: bench/fixtures' 100 instances repeated and renamed up to BENCH_BIG_MB (bench/server.ts).
      {
        listingLib: 1993563,
        listingRaw: 1993563,
        pullLib: 8 * MiB,
        pullRaw: 8 * MiB,
        pullLibQuarter: 2 * MiB,
        pullDispatch: 8 * MiB,
        pullNet: 8 * MiB,
      },
    );
    assert.deepEqual(results.debug.calls, {
      requests: 400,
      off: { all: 1, dumps: 0 },
      on: { all: 401, dumps: 400 },
      linesPrinted: 800,
    });
    // Never the real LXD: BENCH_LXD=0 where a sandbox is up, and none to find elsewhere.
    const skipped = 'skipped' in results.lxd ? results.lxd.skipped : 'measured';
    assert.ok(
      ['BENCH_LXD=0', 'no LXD sandbox (run scripts/lxd-sandbox.sh up, or set LXD_TEST_SOCKET)'].includes(skipped),
      skipped,
    );
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
    rmSync(join(root, 'bench', '.work', plain), { recursive: true, force: true });
  }
});

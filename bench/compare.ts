// One comparison of the library against raw undici: alternating turns in one process (`alternate`),
// and the summary of one or more such runs, each from its own process (`summarise`), with 95%
// bootstrap intervals that resample the runs and, within each, its turns.
import type { Dispatcher } from 'undici';
import type * as Lib from '../src/index.ts';
import { quantile, round, sortedCopy, timed } from './lib.ts';
import type { Comparison, Side } from './report.ts';

export type Call = () => Promise<unknown>;

/** One side's turn: its requests, its wall time and, sequentially, each request's latency (ns). */
export interface Turn {
  n: number;
  ns: number;
  lat: number[];
}

/** One process's alternating turns of both sides, and each side's CPU time (µs) over them. */
export interface Run {
  lib: { turns: Turn[]; cpuUs: number };
  raw: { turns: Turn[]; cpuUs: number };
}

/**
 * `lib` against `raw` in `turns` turns of `perTurn` requests per side (one after another, or
 * `inflight` at a time), the order flipping every turn, after uncounted warm-up turns of the same
 * kind, `warm` requests a side. Until V8 has compiled both sides' code, the side with more code of
 * its own runs slower: with 200 warm-up requests the library was 0.92 of raw undici on `/1.0`, with
 * 2000 0.953 and with 5000 0.97, and both sides' CPU per request fell from 84–90 to 61–64 µs.
 */
export async function alternate(lib: Call, raw: Call, perTurn: number, inflight: number, turns: number, warm: number): Promise<Run> {
  for (let turn = 0; turn < Math.max(2, Math.ceil(warm / perTurn)); turn++) {
    await timed(turn % 2 === 0 ? lib : raw, perTurn, inflight, []);
    await timed(turn % 2 === 0 ? raw : lib, perTurn, inflight, []);
  }
  const run: Run = { lib: { turns: [], cpuUs: 0 }, raw: { turns: [], cpuUs: 0 } };
  for (let turn = 0; turn < turns; turn++) {
    for (const side of turn % 2 === 0 ? (['lib', 'raw'] as const) : (['raw', 'lib'] as const)) {
      const lat: number[] = [];
      const got = await timed(side === 'lib' ? lib : raw, perTurn, inflight, lat);
      run[side].turns.push({ n: perTurn, ns: got.ns, lat });
      run[side].cpuUs += got.cpuUs;
    }
  }
  return run;
}

/**
 * The comparison over all turns of all `runs` (one per process): lib/raw throughput, p50/p99 and
 * CPU per request, with 95% intervals of the ratio and, sequentially, of the added p50 and p99.
 */
export function summarise(name: string, target: Comparison['target'], inflight: number, runs: Run[]): Comparison {
  const sequential = inflight === 1;
  const stats = (side: 'lib' | 'raw'): Side => {
    const turns = runs.flatMap((run) => run[side].turns);
    const requests = sum(turns.map((turn) => turn.n));
    const sorted = sortedCopy(turns.flatMap((turn) => turn.lat));
    return {
      rps: round(requests / (sum(turns.map((turn) => turn.ns)) / 1e9), 1),
      p50us: round(quantile(sorted, 0.5) / 1e3, 1),
      p99us: round(quantile(sorted, 0.99) / 1e3, 1),
      cpuUsPerReq: round(sum(runs.map((run) => run[side].cpuUs)) / requests, 1),
    };
  };
  const lib = stats('lib');
  const raw = stats('raw');
  const wall = (side: 'lib' | 'raw') => sum(runs.flatMap((run) => run[side].turns.map((turn) => turn.ns)));
  const interval = intervals(runs, sequential);
  const us = (range: [number, number] | undefined): [number, number] | null => (range ? [round(range[0] / 1e3, 1), round(range[1] / 1e3, 1)] : null);
  return {
    name,
    target,
    mode: sequential ? 'sequential' : 'inflight',
    requests: sum(runs.flatMap((run) => run.lib.turns.map((turn) => turn.n))),
    runs: runs.length,
    turns: sum(runs.map((run) => run.lib.turns.length)),
    lib,
    raw,
    ratio: round(wall('raw') / wall('lib')),
    ratioLow: round(interval.ratio[0]),
    ratioHigh: round(interval.ratio[1]),
    addedP50us: sequential ? round(lib.p50us - raw.p50us, 1) : null,
    addedP99us: sequential ? round(lib.p99us - raw.p99us, 1) : null,
    addedP50Interval: us(interval.p50),
    addedP99Interval: us(interval.p99),
    cpuRatio: round(lib.cpuUsPerReq / raw.cpuUsPerReq),
  };
}

/** The line bench/run.ts prints for a comparison. */
export function describe(c: Comparison): string {
  return (
    `  ${c.target} ${c.name} ${c.mode.padEnd(10)} lib ${c.lib.rps} req/s vs raw ${c.raw.rps} (x${c.ratio}, 95% ${c.ratioLow}..${c.ratioHigh})` +
    (c.mode === 'sequential' ? `  p50 ${c.lib.p50us}/${c.raw.p50us} us  p99 ${c.lib.p99us}/${c.raw.p99us} us (added 95% ${c.addedP99Interval?.join('..')})` : '') +
    `  cpu ${c.lib.cpuUsPerReq}/${c.raw.cpuUsPerReq} us/req`
  );
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

const RESAMPLES = 2000;

/**
 * 95% intervals (the 2.5% and 97.5% quantiles over 2000 resamples; seeded, so that the same
 * timings give the same intervals) of the throughput ratio sum(raw ns)/sum(lib ns) and, with
 * `latencies`, of the added p50 and p99 (lib − raw, ns). Each resample draws the runs with
 * replacement, then within each drawn run its turns, a turn's two sides kept paired: a process
 * has a state of its own (what the JIT compiled, where the GC stands) that moves its every turn,
 * which turns alone would not show. A p99 is made by the few slowest requests (a GC pause, the
 * scheduler), so it moves with the turns they fell in.
 */
function intervals(runs: Run[], latencies: boolean): { ratio: [number, number]; p50?: [number, number]; p99?: [number, number] } {
  let seed = 0x9e3779b9;
  const next = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (n: number) => Math.floor(next() * n);
  // A resample's latencies: as many runs as there are, each of at most its turns times its longest turn.
  const most = (turns: Turn[]) => turns.length * Math.max(0, ...turns.map((turn) => turn.lat.length));
  const room = (side: 'lib' | 'raw') => (latencies ? runs.length * Math.max(...runs.map((run) => most(run[side].turns))) : 0);
  const pooled = { lib: new Float64Array(room('lib')), raw: new Float64Array(room('raw')) };
  const ratios = new Float64Array(RESAMPLES);
  const p50 = new Float64Array(RESAMPLES);
  const p99 = new Float64Array(RESAMPLES);
  for (let r = 0; r < RESAMPLES; r++) {
    let libNs = 0;
    let rawNs = 0;
    let libAt = 0;
    let rawAt = 0;
    for (let k = 0; k < runs.length; k++) {
      const run = runs[pick(runs.length)] as Run;
      const count = run.lib.turns.length;
      for (let i = 0; i < count; i++) {
        const at = pick(count);
        const lib = run.lib.turns[at] as Turn;
        const raw = run.raw.turns[at] as Turn;
        libNs += lib.ns;
        rawNs += raw.ns;
        if (!latencies) continue;
        pooled.lib.set(lib.lat, libAt);
        pooled.raw.set(raw.lat, rawAt);
        libAt += lib.lat.length;
        rawAt += raw.lat.length;
      }
    }
    ratios[r] = rawNs / libNs;
    if (!latencies) continue;
    const libSorted = pooled.lib.subarray(0, libAt).sort();
    const rawSorted = pooled.raw.subarray(0, rawAt).sort();
    p50[r] = quantile(libSorted, 0.5) - quantile(rawSorted, 0.5);
    p99[r] = quantile(libSorted, 0.99) - quantile(rawSorted, 0.99);
  }
  const bounds = (values: Float64Array): [number, number] => {
    values.sort();
    return [quantile(values, 0.025), quantile(values, 0.975)];
  };
  return latencies ? { ratio: bounds(ratios), p50: bounds(p50), p99: bounds(p99) } : { ratio: bounds(ratios) };
}

/** The raw side: undici's `request()` and `body.json()`, nothing else. */
export function rawJson(agent: Dispatcher, path: string): Call {
  return async () => (await agent.request({ origin: 'http://lxd', path, method: 'GET' })).body.json();
}

/** A result of an async response, as `api.post(...)` gives it, whose `wait()` the bench calls. */
export function pendingOperation(APIResult: typeof Lib.APIResult, api: Lib.API, operation: string): Lib.APIResult {
  const data = { type: 'async', status: 'Operation created', status_code: 100, operation, error_code: 0, error: '', metadata: null };
  return new APIResult(api, {
    request: { method: 'POST', url: `${api.endpoint}/1.0/instances`, headers: {} },
    response: { status: 202, headers: { location: operation } },
    data: data as never,
  });
}

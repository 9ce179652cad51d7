// One run of the canned comparisons in a process of its own (bench/run.ts forks several, one after
// another): each scenario sequentially and in flight, alternating the library (plain JavaScript from
// bench/build.ts) with raw undici. Sends each comparison's turns to the parent over IPC.
//   fork('bench/canned.ts', [socketPath, plainDir, settings as JSON])
import { Agent } from 'undici';
import { importPlain } from './build.ts';
import { alternate, type Call, pendingOperation, type Run, rawJson } from './compare.ts';
import { OPERATION } from './lib.ts';

export interface CannedSettings {
  /** Uncounted requests a side before each comparison (the listing: a fifth). */
  warm: number;
  turns: number;
  turn: number;
  inflight: number;
  inflightTurn: number;
}

/** What a run sends: per scenario and mode, its turns. */
export interface CannedRun {
  comparisons: Array<{ name: string; inflight: number; run: Run }>;
}

const [socketPath, plain, json] = process.argv.slice(2) as [string, string, string];
// The bench gone (killed, timed out): stop too, rather than run on unwatched.
const orphaned = () => process.exit(1);
process.once('disconnect', orphaned);
const settings = JSON.parse(json) as CannedSettings;
// 'tsx': the library's source as tsx runs it (BENCH_SOURCE=tsx).
const { API, APIResult } = plain === 'tsx' ? await import('../src/index.ts') : await importPlain(plain);
const api = API.factory(socketPath);
const raw = new Agent({ connect: { socketPath } });
const pending = pendingOperation(APIResult, api, OPERATION);
// [name, lib, raw, sequential requests per turn, in-flight requests per turn, warm-up requests]
const scenarios: Array<[string, Call, Call, number, number, number]> = [
  ['GET /1.0', () => api.get('/1.0'), rawJson(raw, '/1.0'), settings.turn, settings.inflightTurn, settings.warm],
  [
    'instances?recursion=1',
    () => api.get('instances', { query: { recursion: 1 } }),
    rawJson(raw, '/1.0/instances?recursion=1'),
    Math.max(1, Math.round(settings.turn / 5)),
    Math.max(settings.inflight, Math.ceil(settings.inflightTurn / 4)),
    Math.ceil(settings.warm / 5),
  ],
  ['operation wait', () => pending.wait(), rawJson(raw, `${OPERATION}/wait?timeout=30`), settings.turn, settings.inflightTurn, settings.warm],
];
const out: CannedRun = { comparisons: [] };
try {
  for (const [name, lib, rawCall, sequential, inflight, warm] of scenarios) {
    out.comparisons.push({ name, inflight: 1, run: await alternate(lib, rawCall, sequential, 1, settings.turns, warm) });
    out.comparisons.push({ name, inflight: settings.inflight, run: await alternate(lib, rawCall, inflight, settings.inflight, Math.ceil(settings.turns / 5), warm) });
  }
} finally {
  await api.close();
  await raw.close();
}
await new Promise<void>((resolve, reject) => (process.send as NonNullable<typeof process.send>)(out, (error: Error | null) => (error ? reject(error) : resolve())));
process.off('disconnect', orphaned);
process.disconnect();

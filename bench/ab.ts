// Before/after of a change to src/, in one run, alternating: the working tree's src/ against the whole
// src/ of a git revision (or the working tree's with src/api.ts taken from a file), and raw undici as the
// yardstick. `HEAD` with a clean tree compares identical code: the noise floor.
//   node --import tsx bench/ab.ts <git rev | path of the old api.ts>     (BENCH_TURNS, BENCH_TURN, BENCH_WARM)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { buildPlain, importPlain, sourceTree } from './build.ts';
import { rawJson } from './compare.ts';
import { envInt, instantDispatcher, quantile, ROOT, round, sortedCopy, startServer, timed, WARM } from './lib.ts';

// Short turns, the order rotating every turn, as in bench/run.ts.
const TURNS = envInt('BENCH_TURNS', 100);
const TURN = envInt('BENCH_TURN', 50); // sequential requests per side per turn (the listing: a fifth)
const from = process.argv[2] ?? 'HEAD';
const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
const old: Record<string, string> = existsSync(from)
  ? { ...sourceTree(), 'src/api.ts': readFileSync(from, 'utf8') }
  : Object.fromEntries(
      git('ls-tree', '-r', '--name-only', from, '--', 'src')
        .split('\n')
        .filter((file) => file.endsWith('.ts'))
        .map((file) => [file, git('show', `${from}:${file}`)]),
    );
const after = await importPlain(buildPlain('ab-after'));
const before = await importPlain(buildPlain('ab-before', old));

// BENCH_AB_FAKE=1: no socket, a dispatcher that answers at once with the canned bytes: the library's own
// CPU without the kernel, the server and the scheduler's noise ("raw" is then the fake call + JSON.parse).
const FAKE = process.env.BENCH_AB_FAKE === '1';
const fake = instantDispatcher().dispatcher;
const socketPath = join(tmpdir(), `lxdapi-ab-${process.pid}.socket`);
const server = FAKE ? undefined : await startServer(socketPath);
const unix = `http+unix://${encodeURIComponent(socketPath)}`;
const apiBefore = FAKE ? new before.API(fake, unix) : before.API.factory(socketPath);
const apiAfter = FAKE ? new after.API(fake, unix) : after.API.factory(socketPath);
const raw = FAKE ? fake : new Agent({ connect: { socketPath } });

// The last one is the request `result.wait()` sends.
const WAIT = { query: { timeout: 30 }, serverTimeout: 30 } as const;
for (const [path, options] of [['/1.0'], ['/1.0/operations/x/wait?timeout=30'], ['/1.0/instances?recursion=1'], ['/1.0/operations/x/wait', WAIT]] as Array<[string, typeof WAIT?]>) {
  if (process.env.BENCH_AB_PATHS && !process.env.BENCH_AB_PATHS.split(',').includes(path)) continue;
  const n = path.includes('instances') ? Math.ceil(TURN / 5) : TURN;
  const rawPath = options ? `${path}?timeout=30` : path;
  const sides: Record<string, () => Promise<unknown>> = {
    before: () => apiBefore.get(path, options),
    after: () => apiAfter.get(path, options),
    raw: rawJson(raw, rawPath),
  };
  const totals: Record<string, { ns: number; cpu: number; lat: number[] }> = {};
  for (const name of Object.keys(sides)) totals[name] = { ns: 0, cpu: 0, lat: [] };
  // As long a warm-up as bench/run.ts's: with 300 requests, the library's code was still compiling in the turns.
  for (let i = 0; i < WARM; i++) for (const call of Object.values(sides)) await call();
  for (let r = 0; r < TURNS; r++) {
    const names = Object.keys(sides);
    const order = names.slice(r % names.length).concat(names.slice(0, r % names.length));
    for (const name of order) {
      const total = totals[name] as { ns: number; cpu: number; lat: number[] };
      const got = await timed(sides[name] as () => Promise<unknown>, n, 1, total.lat);
      total.ns += got.ns;
      total.cpu += got.cpuUs;
    }
  }
  const line = Object.entries(totals).map(([name, t]) => {
    const sorted = sortedCopy(t.lat);
    return `${name} ${round((n * TURNS) / (t.ns / 1e9), 0)} req/s, cpu ${round(t.cpu / (n * TURNS), 1)} us/req, p50 ${round(quantile(sorted, 0.5) / 1e3, 1)} p99 ${round(quantile(sorted, 0.99) / 1e3, 1)} us`;
  });
  const rps = (name: string) => (n * TURNS) / ((totals[name] as { ns: number }).ns / 1e9);
  console.log(`${path}${options ? ' (as wait() sends it)' : ''}\n  ${line.join('\n  ')}\n  before/raw ${round(rps('before') / rps('raw'))}  after/raw ${round(rps('after') / rps('raw'))}`);
}
await apiBefore.close();
await apiAfter.close();
await raw.close();
server?.stop();

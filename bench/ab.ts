// Before/after of a change to src/api.ts, in one run, alternating: the working tree's src/ against
// the same src/ with src/api.ts taken from a git revision (or a file), and raw undici as the yardstick.
//   node --import tsx bench/ab.ts <git rev | path of the old api.ts>     (BENCH_ROUNDS, BENCH_SEQ)
import { execFileSync, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent } from 'undici';
import type * as Lib from '../src/index.ts';
import { buildPlain } from './build.ts';
import { BENCH_DIR, envInt, nowNs, quantile, ROOT, round, sortedCopy } from './lib.ts';

const ROUNDS = envInt('BENCH_ROUNDS', 10);
const SEQ = envInt('BENCH_SEQ', 1000);
const from = process.argv[2] ?? 'HEAD';
const old = existsSync(from) ? readFileSync(from, 'utf8') : execFileSync('git', ['show', `${from}:src/api.ts`], { cwd: ROOT, encoding: 'utf8' });
const load = async (dir: string) => (await import(pathToFileURL(join(dir, '..', '..', 'src', 'index.js')).href)) as typeof Lib;
const after = await load(buildPlain('ab-after'));
const before = await load(buildPlain('ab-before', { 'src/api.ts': old }));

const socketPath = join(tmpdir(), `lxdapi-ab-${process.pid}.socket`);
const server = fork(join(BENCH_DIR, 'server.ts'), [socketPath], { execArgv: ['--import', 'tsx'] });
await new Promise((resolve) => server.once('message', resolve));
const apiBefore = before.API.factory(socketPath);
const apiAfter = after.API.factory(socketPath);
const raw = new Agent({ connect: { socketPath } });

for (const path of ['/1.0', '/1.0/operations/x/wait?timeout=30', '/1.0/instances?recursion=1']) {
  const n = path.includes('instances') ? Math.ceil(SEQ / 5) : SEQ;
  const sides: Record<string, () => Promise<unknown>> = {
    before: () => apiBefore.get(path),
    after: () => apiAfter.get(path),
    raw: async () => (await raw.request({ origin: 'http://lxd', path, method: 'GET' })).body.json(),
  };
  const totals: Record<string, { ns: number; cpu: number; lat: number[] }> = {};
  for (const name of Object.keys(sides)) totals[name] = { ns: 0, cpu: 0, lat: [] };
  for (let i = 0; i < 300; i++) for (const call of Object.values(sides)) await call();
  for (let r = 0; r < ROUNDS; r++) {
    const names = Object.keys(sides);
    const order = names.slice(r % names.length).concat(names.slice(0, r % names.length));
    for (const name of order) {
      const call = sides[name] as () => Promise<unknown>;
      const total = totals[name] as { ns: number; cpu: number; lat: number[] };
      const cpu = process.cpuUsage();
      const start = nowNs();
      for (let i = 0; i < n; i++) {
        const t = nowNs();
        await call();
        total.lat.push(nowNs() - t);
      }
      total.ns += nowNs() - start;
      const used = process.cpuUsage(cpu);
      total.cpu += used.user + used.system;
    }
  }
  const line = Object.entries(totals).map(([name, t]) => {
    const sorted = sortedCopy(t.lat);
    return `${name} ${round((n * ROUNDS) / (t.ns / 1e9), 0)} req/s, cpu ${round(t.cpu / (n * ROUNDS), 1)} us/req, p50 ${round(quantile(sorted, 0.5) / 1e3, 1)} p99 ${round(quantile(sorted, 0.99) / 1e3, 1)} us`;
  });
  const rps = (name: string) => (n * ROUNDS) / ((totals[name] as { ns: number }).ns / 1e9);
  console.log(`${path}\n  ${line.join('\n  ')}\n  before/raw ${round(rps('before') / rps('raw'))}  after/raw ${round(rps('after') / rps('raw'))}`);
}
await apiBefore.close();
await apiAfter.close();
await raw.close();
server.kill();

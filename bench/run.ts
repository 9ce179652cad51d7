// `npm run bench`: this library against raw undici on the same unix socket, alternating the two in
// one run, against a canned LXD (recorded bodies, served from a separate process) and, when the
// sandbox is up, against the real LXD. Writes bench/results.json, then bench/report.ts draws
// bench/chart.svg and the table in bench/README.md. Sample counts: see BENCH_* below.
import { fork, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import type * as Lib from '../src/index.ts';
import { buildPlain, importPlain } from './build.ts';
import type { CannedRun, CannedSettings } from './canned.ts';
import { alternate, type Call, describe, pendingOperation, rawJson, summarise } from './compare.ts';
import { BENCH_DIR, benchName, envInt, FIXTURES, instantDispatcher, pool, quantile, round, sandboxEnv, sortedCopy, startServer, WARM } from './lib.ts';
import { type Comparison, type Results, type WaitStats, writeReport } from './report.ts';

// The library as users run it: src/ compiled to plain JavaScript (bench/build.ts), not through tsx,
// whose keepNames helper wraps every closure (BENCH_SOURCE=tsx measures the source as tsx runs it).
const SOURCE = process.env.BENCH_SOURCE === 'tsx' ? 'tsx' : 'plain';
const plain = buildPlain();
const { API, APIResult } = SOURCE === 'tsx' ? await import('../src/index.ts') : await importPlain(plain);
type API = Lib.API;

// Each comparison runs in short turns, lib then raw, raw then lib, ...: a slow moment of the shared
// machine (another process, a GC, the scheduler) falls on both sides alike instead of on one long round.
const TURNS = envInt('BENCH_TURNS', 200); // turns of a sequential comparison on the canned server, over all runs
const RUNS = envInt('BENCH_RUNS', 5); // fresh processes the canned comparisons are split over
const LXD_WARM = envInt('BENCH_LXD_WARM', 500); // the same on the real LXD (the listing: a tenth)
const TURN = envInt('BENCH_TURN', 25); // sequential requests per side per turn (the listing: a fifth)
const INFLIGHT = envInt('BENCH_INFLIGHT', 32);
const INFLIGHT_TURN = envInt('BENCH_INFLIGHT_TURN', 256); // requests per side per turn, INFLIGHT at a time (listing: a quarter)
const LXD_TURNS = envInt('BENCH_LXD_TURNS', 60);
const LXD_TURN = envInt('BENCH_LXD_TURN', 10);
const LXD_INSTANCES = envInt('BENCH_LXD_INSTANCES', 100);
const WAITS = envInt('BENCH_WAITS', 30); // exec `true` operations per side
const PULL_MB = envInt('BENCH_PULL_MB', 1024); // MiB of the file pull (the canned server reads it too)

const say = (text: string) => process.stdout.write(`${text}\n`);

/** One comparison in this process (the real LXD; debug off against on), printed. */
async function compare(name: string, target: Comparison['target'], lib: Call, raw: Call, perTurn: number, inflight: number, turns: number, warm: number): Promise<Comparison> {
  const comparison = summarise(name, target, inflight, [await alternate(lib, raw, perTurn, inflight, turns, warm)]);
  say(describe(comparison));
  return comparison;
}

/**
 * The canned comparisons (bench/canned.ts) in RUNS fresh processes, one after another, each with
 * TURNS / RUNS turns: a process's own state (what the JIT compiled, where the GC stands) moved a
 * ratio between runs of one process by more than its turns' interval.
 */
async function cannedRuns(socketPath: string): Promise<Comparison[]> {
  const settings: CannedSettings = { warm: WARM, turns: Math.ceil(TURNS / RUNS), turn: TURN, inflight: INFLIGHT, inflightTurn: INFLIGHT_TURN };
  const runs: CannedRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    const child = fork(join(BENCH_DIR, 'canned.ts'), [socketPath, SOURCE === 'tsx' ? 'tsx' : plain, JSON.stringify(settings)], { execArgv: ['--import', 'tsx'] });
    runs.push(
      await new Promise<CannedRun>((resolve, reject) => {
        let got: CannedRun | undefined;
        child.once('message', (message) => {
          got = message as CannedRun;
        });
        child.once('error', reject);
        child.once('close', (code) => (code === 0 && got ? resolve(got) : reject(new Error(`bench/canned.ts exited with ${code}${got ? '' : ', sending nothing'}`))));
      }),
    );
    say(`  run ${i + 1} of ${RUNS} done`);
  }
  return (runs[0] as CannedRun).comparisons.map(({ name, inflight }, k) => {
    const comparison = summarise(name, 'canned', inflight, runs.map((run) => (run.comparisons[k] as CannedRun['comparisons'][number]).run));
    say(describe(comparison));
    return comparison;
  });
}

// ---------------------------------------------------------------- the library's own CPU

const OWN_TURNS = envInt('BENCH_OWN_TURNS', 40);
const OWN_TURN = envInt('BENCH_OWN_TURN', 2000);

/**
 * The library's own CPU per request, without a socket, a server or a scheduler in the way: a
 * dispatcher that answers at once with the recorded headers and body. "bare" is what any client
 * does with that answer (`JSON.parse` of the body's text, as undici's `json()`); lib − bare is what
 * the library adds. Alternating turns, CPU time of this process.
 */
async function ownCost() {
  const { dispatcher: instant, operation: op } = instantDispatcher();
  const api = new API(instant, 'http+unix://%2Frun%2Flxd.socket');
  const pending = pendingOperation(APIResult, api, op);
  const bare = (path: string) => async () => JSON.parse(await (await instant.request({ path } as never)).body.text());
  const rows: Array<{ name: string; libUs: number; bareUs: number; addedUs: number }> = [];
  for (const [name, lib, baseline, perTurn, warm] of [
    ['GET /1.0', () => api.get('/1.0'), bare('/1.0'), OWN_TURN, WARM],
    ['instances?recursion=1', () => api.get('instances', { query: { recursion: 1 } }), bare('/1.0/instances'), Math.max(1, Math.ceil(OWN_TURN / 50)), Math.ceil(WARM / 5)],
    ['operation wait', () => pending.wait(), bare(`${op}/wait`), OWN_TURN, WARM],
  ] as Array<[string, Call, Call, number, number]>) {
    const { lib: libSide, raw: bareSide } = await alternate(lib, baseline, perTurn, 1, OWN_TURNS, warm);
    const n = perTurn * OWN_TURNS;
    const row = { name, libUs: round(libSide.cpuUs / n, 2), bareUs: round(bareSide.cpuUs / n, 2), addedUs: round((libSide.cpuUs - bareSide.cpuUs) / n, 2) };
    say(`  no I/O ${name}: lib ${row.libUs} us/req, JSON.parse alone ${row.bareUs} us/req, added ${row.addedUs} us`);
    rows.push(row);
  }
  await api.close();
  return rows;
}

// ---------------------------------------------------------------- debug off

/** Counts JSON.stringify calls (all, and dumpJson's: indent 4) while `fn` runs. */
async function countStringify(fn: () => Promise<void>): Promise<{ all: number; dumps: number }> {
  const original = JSON.stringify;
  const counts = { all: 0, dumps: 0 };
  JSON.stringify = ((value: unknown, replacer?: never, space?: string | number) => {
    counts.all++;
    if (space === 4) counts.dumps++;
    return original(value, replacer, space);
  }) as typeof JSON.stringify;
  try {
    await fn();
  } finally {
    JSON.stringify = original;
  }
  return counts;
}

async function debugCost(socketPath: string) {
  const off = API.factory(socketPath);
  const on = API.factory(socketPath, { debug: true });
  let printed = 0;
  on.log.log = () => {
    printed++;
  }; // the dump is built and formatted, then dropped instead of written to stderr
  const n = 200;
  const repeat = (api: API, url: string) => async () => {
    for (let i = 0; i < n; i++) await api.get(url);
  };
  const calls = {
    requests: n * 2,
    off: await countStringify(async () => {
      await repeat(off, '/1.0')();
      await repeat(off, 'instances?recursion=1')();
    }),
    on: await countStringify(async () => {
      await repeat(on, '/1.0')();
      await repeat(on, 'instances?recursion=1')();
    }),
    linesPrinted: printed,
  };
  say(`  debug off: ${calls.off.all} JSON.stringify calls (${calls.off.dumps} dumps) in ${calls.requests} requests; on: ${calls.on.all} (${calls.on.dumps} dumps)`);
  const timing = [
    await compare('/1.0 debug off vs on', 'canned', () => off.get('/1.0'), () => on.get('/1.0'), TURN, 1, Math.ceil(TURNS / 4), Math.ceil(WARM / 10)),
    await compare('listing debug off vs on', 'canned', () => off.get('instances', { query: { recursion: 1 } }), () => on.get('instances', { query: { recursion: 1 } }), Math.max(1, Math.ceil(TURN / 5)), 1, Math.ceil(TURNS / 4), Math.ceil(WARM / 50)),
  ].map((c) => ({ name: c.name, offRps: c.lib.rps, onRps: c.raw.rps, offOverOn: c.ratio, offP50us: c.lib.p50us, onP50us: c.raw.p50us, offCpuUs: c.lib.cpuUsPerReq, onCpuUs: c.raw.cpuUsPerReq }));
  await off.close();
  await on.close();
  return { calls, timing };
}

// ---------------------------------------------------------------- memory

function memory(socketPath: string) {
  const run = (mode: string, extra: string[] = []) => {
    const child = spawnSync(process.execPath, ['--expose-gc', join(plain, 'bench', 'memory.js'), socketPath, mode, ...extra], { encoding: 'utf8', timeout: 600_000 });
    if (child.status !== 0) throw new Error(`memory ${mode} failed: ${child.error?.message ?? child.stderr}`);
    const line = JSON.parse(child.stdout.trim().split('\n').pop() as string);
    say(`  memory ${mode}${extra.length ? ` ${extra.join(' ')}` : ''}: ${JSON.stringify(line)}`);
    return line;
  };
  return {
    listingLib: run('listing-lib'),
    listingRaw: run('listing-raw'),
    pullLib: run('pull-lib'),
    pullRaw: run('pull-raw'),
    pullLibQuarter: run('pull-lib', [String(Math.max(1, Math.floor(PULL_MB / 4)))]),
    pullDispatch: run('pull-dispatch'),
    pullNet: run('pull-net'),
  };
}

// ---------------------------------------------------------------- real LXD

/** Nanoseconds since the epoch of an RFC 3339 time with up to 9 fraction digits. */
function epochNs(text: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!match) throw new Error(`not an RFC 3339 time: ${text}`);
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  return seconds * 1e6 + Number((match[2] ?? '').padEnd(9, '0').slice(0, 9));
}

/** The wall clock in nanoseconds since the epoch, to the microsecond (timeOrigin + the monotonic clock). */
function wallNs(): number {
  return (performance.timeOrigin + performance.now()) * 1e6;
}

async function realLxd(socket: string, image: string) {
  const api = API.factory(socket, { waitTimeout: 60 });
  const raw = new Agent({ connect: { socketPath: socket } });
  const prefix = benchName();
  const created: string[] = [];
  const out: { comparisons: Comparison[]; wait?: { lib: WaitStats; raw: WaitStats }; instances: number } = { comparisons: [], instances: LXD_INSTANCES };
  try {
    const names = Array.from({ length: LXD_INSTANCES }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
    await pool(names, 8, async (name) => {
      const op = api.post('instances', { json: { name, source: { type: 'image', alias: image } } });
      await op;
      created.push(name);
      await op.wait();
    });
    const exec = `${prefix}-exec`;
    await api.post('instances', { json: { name: exec, source: { type: 'image', alias: image } } }).wait();
    created.push(exec);
    await api.put(`instances/${exec}/state`, { json: { action: 'start', timeout: 30 } }).wait();
    const listed = (await api.get<string[]>('instances')).metadata.length;
    say(`  lxd: ${created.length} bench instances (${listed} on the daemon)`);

    const list = () => api.get('instances', { query: { recursion: 1 } });
    const rawList = rawJson(raw, '/1.0/instances?recursion=1');
    out.comparisons.push(await compare('GET /1.0', 'lxd', () => api.get('/1.0'), rawJson(raw, '/1.0'), LXD_TURN, 1, LXD_TURNS, LXD_WARM));
    out.comparisons.push(await compare('GET /1.0', 'lxd', () => api.get('/1.0'), rawJson(raw, '/1.0'), INFLIGHT * 2, INFLIGHT, Math.ceil(LXD_TURNS / 3), LXD_WARM));
    out.comparisons.push(await compare('instances?recursion=1', 'lxd', list, rawList, 1, 1, LXD_TURNS, LXD_WARM / 10));
    out.comparisons.push(await compare('instances?recursion=1', 'lxd', list, rawList, INFLIGHT, INFLIGHT, Math.ceil(LXD_TURNS / 10), LXD_WARM / 10));

    // Operation-wait latency: exec `true`, then wait; LXD stamps updated_at when it marks the
    // operation done; the client reads its wall clock the moment wait() resolves.
    const body = { command: ['true'], 'wait-for-websocket': false, 'record-output': false, interactive: false, environment: {} };
    const samples: Record<'lib' | 'raw', { latencyUs: number[]; waitSentBeforeDone: number }> = {
      lib: { latencyUs: [], waitSentBeforeDone: 0 },
      raw: { latencyUs: [], waitSentBeforeDone: 0 },
    };
    const once = async (side: 'lib' | 'raw') => {
      let sent: number;
      let updated: string;
      let resolved: number;
      if (side === 'lib') {
        const started = await api.post(`instances/${exec}/exec`, { json: body });
        sent = wallNs();
        const op = await started.wait({ timeout: 30 });
        resolved = wallNs();
        updated = String(op.metadata.updated_at);
        if (op.metadata.status_code !== 200) throw new Error(`exec ended ${op.metadata.status}`);
      } else {
        const response = await raw.request({ origin: 'http://lxd', path: `/1.0/instances/${exec}/exec`, method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        const started = (await response.body.json()) as { operation: string };
        sent = wallNs();
        const waited = await raw.request({ origin: 'http://lxd', path: `${started.operation}/wait?timeout=30`, method: 'GET', headersTimeout: 60_000, bodyTimeout: 60_000 });
        const op = (await waited.body.json()) as { metadata: { updated_at: string; status_code: number } };
        resolved = wallNs();
        updated = op.metadata.updated_at;
      }
      const done = epochNs(updated);
      samples[side].latencyUs.push((resolved - done) / 1e3);
      if (sent < done) samples[side].waitSentBeforeDone++;
    };
    // Warm-up, not counted: the first few waits of each side include compiling its code.
    for (let i = 0; i < 5; i++) {
      await once('lib');
      await once('raw');
    }
    samples.lib = { latencyUs: [], waitSentBeforeDone: 0 };
    samples.raw = { latencyUs: [], waitSentBeforeDone: 0 };
    for (let i = 0; i < WAITS; i++) {
      for (const side of i % 2 === 0 ? (['lib', 'raw'] as const) : (['raw', 'lib'] as const)) await once(side);
    }
    const summary = (side: 'lib' | 'raw') => {
      const sorted = sortedCopy(samples[side].latencyUs);
      return {
        samples: sorted.length,
        p50us: round(quantile(sorted, 0.5), 0),
        p99us: round(quantile(sorted, 0.99), 0),
        maxUs: round(quantile(sorted, 1), 0),
        minUs: round(quantile(sorted, 0), 0),
        waitSentBeforeDone: samples[side].waitSentBeforeDone,
      };
    };
    out.wait = { lib: summary('lib'), raw: summary('raw') };
    say(`  lxd wait latency (updated_at -> resolved): lib ${JSON.stringify(summary('lib'))}, raw ${JSON.stringify(summary('raw'))}`);
  } finally {
    const started = Date.now();
    await pool([...created], 8, async (name) => {
      try {
        if (name.endsWith('-exec')) await api.put(`instances/${name}/state`, { json: { action: 'stop', force: true, timeout: 30 } }).wait();
        await api.delete(`instances/${name}`).wait();
      } catch (error) {
        say(`  lxd: could not delete ${name}: ${(error as Error).message}`);
      }
    });
    say(`  lxd: deleted ${created.length} bench instances in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await api.close();
    await raw.close();
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const began = Date.now();
  const socketPath = join(tmpdir(), `lxdapi-bench-${process.pid}.socket`);
  const server = await startServer(socketPath);
  const fixtures = JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')) as Record<string, unknown>;
  const machine = {
    nproc: availableParallelism(),
    cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown',
    node: process.version,
    undici: (JSON.parse(readFileSync(join(BENCH_DIR, '..', 'node_modules', 'undici', 'package.json'), 'utf8')) as { version: string }).version,
    platform: `${process.platform} ${process.arch}`,
  };
  say(`bench: ${machine.nproc} cpu (${machine.cpu}), node ${machine.node}, undici ${machine.undici}`);
  let comparisons: Comparison[];
  let own: Awaited<ReturnType<typeof ownCost>>;
  let debug: Awaited<ReturnType<typeof debugCost>>;
  let mem: ReturnType<typeof memory>;
  let lxd: Awaited<ReturnType<typeof realLxd>> | { skipped: string };
  try {
    say(`canned server, ${RUNS} runs:`);
    comparisons = await cannedRuns(socketPath);
    say("the library's own CPU, no I/O:");
    own = await ownCost();
    say('debug off:');
    debug = await debugCost(socketPath);
    say('memory:');
    mem = memory(socketPath);
  } finally {
    server.stop();
  }
  const sandbox = sandboxEnv();
  if (sandbox.socket && process.env.BENCH_LXD !== '0') {
    say(`real LXD at ${sandbox.socket}:`);
    lxd = await realLxd(sandbox.socket, sandbox.image);
  } else {
    const why = sandbox.socket ? 'BENCH_LXD=0' : 'no LXD sandbox (run scripts/lxd-sandbox.sh up, or set LXD_TEST_SOCKET)';
    say(`real LXD: skipped, ${why}`);
    lxd = { skipped: why };
  }
  const results: Results = {
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - began) / 1000),
    machine,
    settings: { SOURCE, RUNS, WARM, LXD_WARM, TURNS, TURN, INFLIGHT, INFLIGHT_TURN, LXD_TURNS, LXD_TURN, LXD_INSTANCES, WAITS, PULL_MB },
    fixtures: { ...fixtures, canned: server.sizes },
    comparisons: [...comparisons, ...('comparisons' in lxd ? lxd.comparisons : [])],
    own,
    debug,
    memory: mem,
    // realLxd sets `wait` before it returns (it throws otherwise).
    lxd: 'skipped' in lxd ? lxd : { instances: lxd.instances, wait: lxd.wait as { lib: WaitStats; raw: WaitStats } },
  };
  const out = process.env.BENCH_OUT || join(BENCH_DIR, 'results.json');
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  say(`bench: wrote ${out} in ${results.seconds} s`);
  if (!process.env.BENCH_OUT) writeReport(results);
}

await main();

// Instructions per request, counted by valgrind (callgrind), lib against raw undici on the canned
// server: a count that the shared machine's load does not move, unlike time. Each side runs in its
// own `node` under valgrind: W warm-up requests, then callgrind's counters are zeroed
// (callgrind_control -z) and N more requests are counted, so one request's cost is measured once the
// code is hot. Each run is repeated; what V8's optimising compiler still does in the window differs
// from run to run, so it is shown apart and left out of the ratio.
//   node --import tsx bench/instructions.ts    (BENCH_ICOUNT_WARM 5000, BENCH_ICOUNT_N 10000, BENCH_ICOUNT_REPEAT 3; ~12 min)
// Writes bench/instructions.json and the table between the instructions markers of bench/README.md.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlain } from './build.ts';
import { BENCH_DIR, envInt, OPERATION, pool, round, shortPath, startServer } from './lib.ts';
import { between, type Results, writeReport } from './report.ts';

const WARM = envInt('BENCH_ICOUNT_WARM', 5000);
const N = envInt('BENCH_ICOUNT_N', 10000);
const REPEAT = envInt('BENCH_ICOUNT_REPEAT', 3);

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('bench/instructions.ts needs valgrind (apt-get install valgrind)');
  process.exit(1);
}

// Where a function's instructions go: V8's optimising compiler, the generated code, the JSON
// parser, the garbage collector, or the rest (V8's runtime and builtins, libc, the kernel interface).
const CATEGORIES: Array<[string, RegExp]> = [
  ['compile', /v8::internal::(compiler|maglev|turboshaft)::|OptimizedCompilationJob|PipelineImpl/],
  ['jit', /^\?\?\?:0x[0-9a-f]+ \[\?\?\?\]$/],
  ['json', /JsonParser|JsonString/],
  ['gc', /v8::internal::(Scavenger|Heap::|MarkCompact|Sweeper|ConcurrentMarking|IncrementalMarking|RootScavengeVisitor|IterateObjectCache|ArrayBufferSweeper|MinorMarkCompact)/],
];

type Counts = Record<string, number>;

/** The instructions of one run, per category, from callgrind_annotate's per-function totals. */
function categorise(file: string): Counts {
  const out = spawnSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (out.status !== 0) throw new Error(`callgrind_annotate ${file}: ${out.stderr}`);
  const counts: Counts = { total: 0, compile: 0, jit: 0, json: 0, gc: 0, other: 0 };
  for (const line of out.stdout.split('\n')) {
    const match = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!match) continue;
    const [, number, name] = match as unknown as [string, string, string];
    const value = Number(number.replace(/,/g, ''));
    if (name.startsWith('PROGRAM TOTALS')) {
      counts.total = value;
      continue;
    }
    const category = CATEGORIES.find(([, pattern]) => pattern.test(name.trim()))?.[0];
    if (category) counts[category] = (counts[category] ?? 0) + value;
  }
  // The rest by difference: after callgrind_control -z, the frames that were on the stack (main,
  // the event loop) carry inclusive costs, so summing the other lines would count them twice.
  counts.other = (counts.total ?? 0) - (counts.compile ?? 0) - (counts.jit ?? 0) - (counts.json ?? 0) - (counts.gc ?? 0);
  return counts;
}

const plain = buildPlain();
const work = join(BENCH_DIR, '.work', 'callgrind');
mkdirSync(work, { recursive: true });
const socketPath = join(tmpdir(), `lxdapi-icount-${process.pid}.socket`);
const server = await startServer(socketPath);
const paths = ['/1.0', `${OPERATION}/wait`, '/1.0/instances?recursion=1'];
// The 173 kB listing costs ~20 times a small request: a tenth of the requests.
const scale = (path: string) => (path.includes('instances') ? 10 : 1);
const measured = (path: string) => Math.ceil(N / scale(path));
const jobs = paths.flatMap((path) => ['lib', 'raw'].flatMap((side) => Array.from({ length: REPEAT }, (_, repeat) => ({ path, side, repeat }))));
const counted = new Map<string, Counts[]>();
const started = Date.now();

/** Runs icount.js under callgrind; zeroes the counters once it is warm; the counts of the measured requests. */
function count(path: string, side: string, file: string): Promise<Counts> {
  const warm = String(Math.ceil(WARM / scale(path)));
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${file}`, process.execPath, join(plain, 'bench', 'icount.js'), socketPath, side, path, warm, String(measured(path))], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (!String(chunk).includes('warm')) return;
    execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
    child.stdin.write('go\n');
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(categorise(file)) : reject(new Error(`valgrind ${side} ${path} exited with ${code}: ${stderr.slice(-2000)}`))));
  });
}

try {
  // Two at a time: the machine's two cores; valgrind runs each program on one.
  await pool(jobs, 2, async ({ path, side, repeat }) => {
    const file = join(work, `${side}-${path.replace(/\W+/g, '_')}-${repeat}.out`);
    // BENCH_ICOUNT_REUSE=1: the table again from the last run's callgrind files, without valgrind.
    const got = process.env.BENCH_ICOUNT_REUSE === '1' ? categorise(file) : await count(path, side, file);
    counted.set(`${path} ${side}`, [...(counted.get(`${path} ${side}`) ?? []), got]);
    process.stdout.write(`  ${path} ${side} run ${repeat + 1}: ${Math.round(((got.total ?? 0) - (got.compile ?? 0)) / measured(path))} instructions a request (compile excluded)\n`);
  });
} finally {
  server.stop();
}

const steady = (c: Counts) => (c.total ?? 0) - (c.compile ?? 0);
const rows = paths.map((path) => {
  const n = measured(path);
  // The median run by steady count, not the mean: in one run of the wait in a few, V8 fell into a
  // slow path for the whole window (property definitions migrating object maps on every request,
  // +46k instructions a request), which a mean of so few runs would spread over the row.
  const perRequest = (side: string) => {
    const runs = (counted.get(`${path} ${side}`) as Counts[]).slice().sort((a, b) => steady(a) - steady(b));
    // With an even count, the lower of the middle two.
    const median = runs[Math.floor((runs.length - 1) / 2)] as Counts;
    const each: Counts = {};
    for (const key of Object.keys(median)) each[key] = Math.round((median[key] ?? 0) / n);
    const steadies = runs.map((run) => Math.round(steady(run) / n));
    return { ...each, steady: steady(each), low: Math.min(...steadies), high: Math.max(...steadies) } as Counts;
  };
  const lib = perRequest('lib');
  const raw = perRequest('raw');
  return { path, lib, raw, ratio: round((lib.steady ?? 0) / (raw.steady ?? 1)), added: (lib.steady ?? 0) - (raw.steady ?? 0) };
});
const results = { date: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000), node: process.version, warm: WARM, n: N, repeat: REPEAT, rows };
writeFileSync(join(BENCH_DIR, 'instructions.json'), `${JSON.stringify(results, null, 2)}\n`);

const k = (value: number | undefined) => `${round((value ?? 0) / 1000, 1)}k`;
const table = [
  `Run of ${results.date} (${results.seconds} s), Node ${results.node}: ${WARM} warm-up requests, then ${N} counted (the listing: a tenth of each), ${REPEAT} runs a side; instructions per request of the median run (by steady count), the range of all runs beside it.`,
  '',
  '| request | side | all | TurboFan compile | steady (all − compile), runs | generated code | JSON parser | GC | rest | steady lib / raw |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.flatMap((row) =>
    (['lib', 'raw'] as const).map(
      (side) =>
        `| ${shortPath(row.path)} | ${side} | ${k(row[side].total)} | ${k(row[side].compile)} | ${k(row[side].steady)} (${k(row[side].low)}–${k(row[side].high)}) | ${k(row[side].jit)} | ${k(row[side].json)} | ${k(row[side].gc)} | ${k(row[side].other)} | ${side === 'lib' ? `**${row.ratio.toFixed(3)}** (${row.added >= 0 ? '+' : ''}${k(row.added)})` : ''} |`,
    ),
  ),
].join('\n');
process.stdout.write(`${table}\n`);
const readme = join(BENCH_DIR, 'README.md');
if (existsSync(readme)) writeFileSync(readme, between(readFileSync(readme, 'utf8'), 'instructions', table));
// The targets table judges throughput by these counts too.
const timed = join(BENCH_DIR, 'results.json');
if (existsSync(timed)) writeReport(JSON.parse(readFileSync(timed, 'utf8')) as Results);

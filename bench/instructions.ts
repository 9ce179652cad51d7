// Instructions per request, counted by valgrind (callgrind), lib against raw undici on the canned
// server: a count that the shared machine's load does not move, unlike time. Each side runs in
// its own `node` under valgrind twice, with W warm-up requests and then 0 or N more; the
// difference over N is one request's cost once the code is hot. TurboFan's compile work, which
// still runs in that window and differs from run to run, is reported apart and left out of the ratio.
//   node --import tsx bench/instructions.ts        (BENCH_ICOUNT_WARM 5000, BENCH_ICOUNT_N 10000; ~10 min)
// Writes bench/instructions.json and the table between the instructions markers of bench/README.md.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildPlain } from './build.ts';
import { BENCH_DIR, envInt, pool, round, startServer } from './lib.ts';
import { between } from './report.ts';

const WARM = envInt('BENCH_ICOUNT_WARM', 5000);
const N = envInt('BENCH_ICOUNT_N', 10000);
const run = promisify(execFile);

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
    const category = CATEGORIES.find(([, pattern]) => pattern.test(name.trim()))?.[0] ?? 'other';
    counts[category] = (counts[category] ?? 0) + value;
  }
  return counts;
}

const plain = buildPlain();
const work = join(BENCH_DIR, '.work', 'callgrind');
mkdirSync(work, { recursive: true });
const socketPath = join(tmpdir(), `lxdapi-icount-${process.pid}.socket`);
const server = await startServer(socketPath);
const paths = ['/1.0', '/1.0/operations/7da0eb96-a4b0-4d1b-8f9b-1235cb064398/wait'];
const jobs = paths.flatMap((path) => ['lib', 'raw'].flatMap((side) => [0, N].map((extra) => ({ path, side, extra }))));
const counted = new Map<string, Counts>();
const started = Date.now();
try {
  // Two at a time: the machine's two cores; valgrind runs each program on one.
  await pool(jobs, 2, async ({ path, side, extra }) => {
    const file = join(work, `${side}-${path.replace(/\W+/g, '_')}-${extra}.out`);
    await run('valgrind', ['--tool=callgrind', `--callgrind-out-file=${file}`, process.execPath, join(plain, 'bench', 'icount.js'), socketPath, side, path, String(WARM), String(extra)], {
      maxBuffer: 64 << 20,
    });
    counted.set(`${path} ${side} ${extra}`, categorise(file));
    process.stdout.write(`  ${path} ${side} +${extra}: ${counted.get(`${path} ${side} ${extra}`)?.total} instructions\n`);
  });
} finally {
  server.stop();
}

const rows = paths.map((path) => {
  const perRequest = (side: string): Counts => {
    const base = counted.get(`${path} ${side} 0`) as Counts;
    const more = counted.get(`${path} ${side} ${N}`) as Counts;
    return Object.fromEntries(Object.keys(more).map((key) => [key, Math.round(((more[key] ?? 0) - (base[key] ?? 0)) / N)]));
  };
  const lib = perRequest('lib');
  const raw = perRequest('raw');
  const steady = (c: Counts) => (c.total ?? 0) - (c.compile ?? 0);
  return { path, lib, raw, steadyLib: steady(lib), steadyRaw: steady(raw), ratio: round(steady(lib) / steady(raw)), added: steady(lib) - steady(raw) };
});
const results = { date: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000), node: process.version, warm: WARM, n: N, rows };
writeFileSync(join(BENCH_DIR, 'instructions.json'), `${JSON.stringify(results, null, 2)}\n`);

const k = (value: number | undefined) => `${round((value ?? 0) / 1000, 1)}k`;
const table = [
  `Run of ${results.date} (${results.seconds} s), Node ${results.node}: ${WARM} warm-up requests, then ${N}; instructions per request.`,
  '',
  '| request | side | all | TurboFan compile | steady (all − compile) | generated code | JSON parser | GC | rest | steady lib / raw |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.flatMap((row) =>
    (['lib', 'raw'] as const).map(
      (side) =>
        `| ${row.path.replace(/operations\/[^/]+/, 'operations/<id>')} | ${side} | ${k(row[side].total)} | ${k(row[side].compile)} | ${k(side === 'lib' ? row.steadyLib : row.steadyRaw)} | ${k(row[side].jit)} | ${k(row[side].json)} | ${k(row[side].gc)} | ${k(row[side].other)} | ${side === 'lib' ? `**${row.ratio.toFixed(3)}** (${row.added >= 0 ? '+' : ''}${k(row.added)})` : ''} |`,
    ),
  ),
].join('\n');
process.stdout.write(`${table}\n`);
const readme = join(BENCH_DIR, 'README.md');
if (existsSync(readme)) writeFileSync(readme, between(readFileSync(readme, 'utf8'), 'instructions', table));

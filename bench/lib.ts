// Shared helpers of the benchmark: the sandbox's exports, the canned server, statistics, timing.
import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');
export const FIXTURES = join(BENCH_DIR, 'fixtures');
/** The operation of the recorded `wait` (bench/fixtures/): the canned server answers any operation's wait with it. */
export const OPERATION = '/1.0/operations/7da0eb96-a4b0-4d1b-8f9b-1235cb064398';

/** The sandbox's exports (`.lxd-sandbox/env`) merged under the environment, as `npm test` reads them. */
export function sandboxEnv(): { socket?: string; url?: string; image: string } {
  const env: Record<string, string | undefined> = { ...process.env };
  const file = resolve(ROOT, env.LXD_SANDBOX_DIR ?? '.lxd-sandbox', 'env');
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^export\s+([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
      if (!match) continue;
      const [, name, raw] = match as unknown as [string, string, string];
      if (env[name] === undefined) env[name] = raw.replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  const socket = env.LXD_TEST_SOCKET ?? env.LXD_SOCKET;
  return {
    ...(socket && existsSync(socket) ? { socket } : {}),
    ...(env.LXD_TEST_URL ? { url: env.LXD_TEST_URL } : {}),
    image: env.LXD_TEST_IMAGE ?? 'busybox',
  };
}

/** An integer from the environment, else the default. */
export function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number.parseInt(value, 10);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name}=${value}: expected a positive integer`);
  return parsed;
}

/**
 * Uncounted requests a side before a comparison (BENCH_WARM, default 5000): until V8 has compiled
 * both sides' code, the side with more code of its own runs slower (bench/compare.ts).
 */
export const WARM = envInt('BENCH_WARM', 5000);

/** A request path as the tables show it: the operation's id as `<id>`. */
export function shortPath(path: string): string {
  return path.replace(/operations\/[^/]+/, 'operations/<id>');
}

/** `bench-<8 hex>`: the prefix of every container the bench makes. */
export function benchName(): string {
  return `bench-${Math.random().toString(16).slice(2, 10)}`;
}

/** The q-quantile (0..1) of sorted numbers, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values as ArrayLike<number>).sort();
}

/** Nanoseconds now, as a number (exact to well under a microsecond for a run of hours). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/**
 * Runs `call` `n` times, one after another (each latency in ns pushed to `latencies`) or `inflight`
 * at a time; the wall time in ns and this process's CPU time in µs.
 */
export async function timed(call: () => Promise<unknown>, n: number, inflight: number, latencies: number[]): Promise<{ ns: number; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const start = nowNs();
  if (inflight === 1) {
    for (let i = 0; i < n; i++) {
      const t = nowNs();
      await call();
      latencies.push(nowNs() - t);
    }
  } else {
    let left = n;
    const worker = async () => {
      while (left-- > 0) await call();
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  }
  const ns = nowNs() - start;
  const used = process.cpuUsage(cpu);
  return { ns, cpuUs: used.user + used.system };
}

/** Forks the canned server (bench/server.ts) on `socketPath`; resolves once it listens, with its body sizes. */
export async function startServer(socketPath: string): Promise<{ stop: () => void; sizes: Record<string, number> }> {
  const child = fork(join(BENCH_DIR, 'server.ts'), [socketPath], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const sizes = await new Promise<Record<string, number>>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { sizes: Record<string, number> }).sizes));
    child.once('exit', (code) => reject(new Error(`the canned server exited with ${code}`)));
  });
  return { stop: () => child.kill('SIGTERM'), sizes };
}

/**
 * A dispatcher that answers at once with the recorded headers and body of bench/fixtures/ (any
 * `<operation>/wait` gets the recorded wait): no socket, server or scheduler in the way, so what is
 * measured through it is the client's own CPU. `operation` is the recorded operation's URL.
 */
export function instantDispatcher(): { dispatcher: Dispatcher; operation: string } {
  const index = JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')) as Record<string, unknown>;
  const answers = new Map<string, { statusCode: number; headers: Record<string, string>; text: string; bytes: Buffer }>();
  for (const entry of Object.values(index) as Array<{ path?: string; status: number; headers: Record<string, string>; file: string }>) {
    if (typeof entry !== 'object' || entry === null || entry.path === undefined) continue;
    const bytes = readFileSync(join(FIXTURES, entry.file));
    answers.set(entry.path.split('?')[0] as string, { statusCode: entry.status, headers: entry.headers, text: bytes.toString('utf8'), bytes });
  }
  const wait = [...answers.keys()].find((path) => path.endsWith('/wait')) as string;
  const dispatcher = {
    request: async ({ path }: { path: string }) => {
      const route = path.split('?')[0] as string;
      const answer = answers.get(route.endsWith('/wait') ? wait : route);
      if (!answer) throw new Error(`no recorded answer for ${path}`);
      const { statusCode, headers, text, bytes } = answer;
      // What undici's body readers return: text() decodes, bytes() copies, json() parses.
      return { statusCode, headers, body: { text: async () => text, bytes: async () => new Uint8Array(bytes), json: async () => JSON.parse(text) } };
    },
    close: async () => {},
  } as unknown as Dispatcher;
  return { dispatcher, operation: wait.replace(/\/wait$/, '') };
}

/** Runs `fn` with at most `limit` calls in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

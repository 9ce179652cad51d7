// One memory measurement in a fresh process (bench/run.ts spawns it), so that
// the peak RSS (VmHWM) belongs to that measurement alone:
//   memory.ts <socket> listing-lib|listing-raw|pull-lib|pull-raw [MiB to pull]
// Prints one JSON line: the bytes moved, the RSS before, the peak RSS, the
// heap before and after (the parsed listing still held).
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { API } from '../src/index.ts';

const [socket, mode, mib] = process.argv.slice(2) as [string, string, string?];
const size = mib ? `&mib=${mib}` : '';
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/**
 * This process's own peak RSS in bytes: VmHWM of /proc/self/status, the high-water mark of its
 * memory map since exec. getrusage's maxRSS is not that: Linux carries the parent's RSS at fork
 * into the child's maxRSS, so a child of the (larger) bench process reported the parent's size.
 */
function highWaterRss(): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status: peak RSS is measured on Linux only');
  return Number(match[1]) * 1024;
}

// Warm the code paths on a small body so that compiling them is not counted.
const api = API.factory(socket);
const raw = new Agent({ connect: { socketPath: socket } });
await api.get('/1.0');
await (await raw.request({ origin: 'http://lxd', path: '/1.0', method: 'GET' })).body.json();
gc();
const before = process.memoryUsage();
let bytes = 0;
let held: unknown;
let heapPeak = before.heapUsed;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}, 5);

if (mode === 'listing-lib') {
  const result = await api.get<unknown[]>('instances', { query: { recursion: 1, size: 'big' } });
  bytes = Number(result.response.headers['content-length']);
  held = result;
} else if (mode === 'listing-raw') {
  const response = await raw.request({ origin: 'http://lxd', path: '/1.0/instances?recursion=1&size=big', method: 'GET' });
  bytes = Number(response.headers['content-length']);
  held = await response.body.json();
} else if (mode === 'pull-lib') {
  const result = await api.get('instances/bench/files', { query: { path: '/big', ...(mib ? { mib } : {}) }, stream: true });
  for await (const chunk of result.stream as AsyncIterable<Buffer>) bytes += chunk.byteLength;
} else if (mode === 'pull-raw') {
  const response = await raw.request({ origin: 'http://lxd', path: `/1.0/instances/bench/files?path=%2Fbig${size}`, method: 'GET' });
  for await (const chunk of response.body) bytes += (chunk as Buffer).byteLength;
} else {
  throw new Error(`unknown mode ${mode}`);
}
clearInterval(sampler);
const after = process.memoryUsage();
heapPeak = Math.max(heapPeak, after.heapUsed);
const peakRss = highWaterRss();
console.log(
  JSON.stringify({
    mode,
    ...(mib ? { mib: Number(mib) } : {}),
    bodyMB: mb(bytes),
    rssBeforeMB: mb(before.rss),
    peakRssMB: mb(peakRss),
    peakRssAddedMB: mb(peakRss - before.rss),
    heapBeforeMB: mb(before.heapUsed),
    heapAfterMB: mb(after.heapUsed),
    heapHeldMB: mb(after.heapUsed - before.heapUsed),
    heapPeakSampledMB: mb(heapPeak),
    held: held !== undefined,
  }),
);
await api.close();
await raw.close();

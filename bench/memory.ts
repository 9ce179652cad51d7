// One memory measurement in a fresh process (bench/run.ts spawns it), so that
// the peak RSS (VmHWM) belongs to that measurement alone:
//   memory.ts <socket> listing-lib|listing-raw|pull-lib|pull-raw|pull-dispatch|pull-net [MiB to pull]
// Prints one JSON line: the bytes moved, the RSS before, the peak RSS, the
// heap before and after (the parsed listing still held). Two floors for the
// pull: pull-dispatch is undici's own, its dispatch() with a handler that only
// counts the bytes (no body stream); pull-net is any Node client's, the bytes
// read from a bare node:net socket with neither undici nor the library loaded.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

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

/**
 * The body's bytes of `GET path`, read from a bare socket: what any Node client receives. The head
 * is gathered until its blank line (it may come over several reads), then every byte after it is
 * counted; a status other than 200, or a count unlike the head's content-length, is an error.
 */
function pullBare(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let expected = 0;
    let read = 0;
    const stream = connect(socket, () => stream.write(`GET ${path} HTTP/1.1\r\nHost: lxd\r\nConnection: close\r\n\r\n`));
    stream.on('data', (chunk: Buffer) => {
      if (head === undefined) {
        read += chunk.byteLength;
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const text = head.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 200 /.test(text)) return stream.destroy(new Error(`pull: ${text.split('\r\n')[0]}`));
      expected = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? Number.NaN);
      read = head.byteLength - end - 4;
      head = undefined;
    });
    stream.once('end', () => (read === expected ? resolve(read) : reject(new Error(`pull: ${read} bytes where content-length said ${expected}`))));
    stream.once('error', reject);
  });
}

// Warm the code paths on a small body so that compiling them is not counted. The bare socket
// loads neither undici nor the library.
const bare = mode === 'pull-net';
const { API } = bare ? { API: undefined } : await import('../src/index.ts');
const { Agent } = bare ? { Agent: undefined } : await import('undici');
const api = API?.factory(socket);
const raw = Agent && new Agent({ connect: { socketPath: socket } });
await api?.get('/1.0');
if (raw) await (await raw.request({ origin: 'http://lxd', path: '/1.0', method: 'GET' })).body.json();
gc();
const before = process.memoryUsage();
let bytes = 0;
let held: unknown;
let heapPeak = before.heapUsed;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}, 5);

if (mode === 'pull-net') {
  bytes = await pullBare(`/1.0/instances/bench/files?path=%2Fbig${size}`);
} else if (!api || !raw) {
  throw new Error(`unknown mode ${mode}`);
} else if (mode === 'listing-lib') {
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
} else if (mode === 'pull-dispatch') {
  bytes = await new Promise<number>((resolve, reject) => {
    let read = 0;
    raw.dispatch(
      { origin: 'http://lxd', path: `/1.0/instances/bench/files?path=%2Fbig${size}`, method: 'GET' },
      {
        // undici takes a handler as its new (v7) kind when it has onRequestStart.
        onRequestStart: () => {},
        onResponseStart: () => {},
        onResponseData: (_controller, chunk) => {
          read += chunk.byteLength;
        },
        onResponseEnd: () => resolve(read),
        onResponseError: (_controller, error) => reject(error),
      },
    );
  });
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
    bodyBytes: bytes,
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
await api?.close();
await raw?.close();

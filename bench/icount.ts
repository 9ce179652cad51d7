// One side of bench/instructions.ts, run under valgrind in a bare `node` (plain JavaScript from
// bench/build.ts): sends `warm` sequential requests, prints `warm`, waits for a line on stdin
// (bench/instructions.ts zeroes callgrind's counters meanwhile), then sends `measured` more.
//   icount.js <socket> lib|raw <path> <warm> <measured>
import { createInterface } from 'node:readline';
import { Agent } from 'undici';
import { API } from '../src/index.ts';

const [socket, side, path, warm, measured] = process.argv.slice(2) as [string, string, string, string, string];
const api = API.factory(socket);
const raw = new Agent({ connect: { socketPath: socket } });
// The wait as `result.wait()` sends it: a long poll of 30 s.
const isWait = path.endsWith('/wait');
const lib = isWait ? () => api.get(path, { query: { timeout: 30 }, serverTimeout: 30 }) : () => api.get(path);
const rawPath = isWait ? `${path}?timeout=30` : path;
const bare = async () => (await raw.request({ origin: 'http://lxd', path: rawPath, method: 'GET' })).body.json();
const call = side === 'lib' ? lib : bare;
for (let i = 0; i < Number(warm); i++) await call();
process.stdout.write('warm\n');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
lines.close();
for (let i = 0; i < Number(measured); i++) await call();
await api.close();
await raw.close();

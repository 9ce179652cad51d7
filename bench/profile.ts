// A profiling target: `node --import tsx --cpu-prof --cpu-prof-dir bench/.work bench/profile.ts [lib|raw] [n] [path]`
// sends n sequential GETs to the canned server (forked) through this library or raw undici.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { buildPlain, importPlain } from './build.ts';
import { startServer } from './lib.ts';

const { API } = await importPlain(buildPlain());
const [side = 'lib', count = '5000', path = '/1.0'] = process.argv.slice(2);
const socketPath = join(tmpdir(), `lxdapi-profile-${process.pid}.socket`);
const server = await startServer(socketPath);
const api = API.factory(socketPath);
const raw = new Agent({ connect: { socketPath } });
const started = process.hrtime.bigint();
const cpu = process.cpuUsage();
for (let i = 0; i < Number(count); i++) {
  if (side === 'lib') await api.get(path);
  else await (await raw.request({ origin: 'http://lxd', path, method: 'GET' })).body.json();
}
const used = process.cpuUsage(cpu);
console.log(`${side} ${count} x ${path}: ${Number(process.hrtime.bigint() - started) / 1e6 / Number(count)} ms/req, cpu ${(used.user + used.system) / Number(count)} us/req`);
await api.close();
await raw.close();
server.stop();

// Records the bodies the canned server replays, from the real LXD sandbox:
// `GET /1.0`, `GET /1.0/instances?recursion=1` with 100 instances and an
// operation `wait`. Creates 100 stopped `bench-<random>-<n>` containers
// (8 at a time, the `lxc init` API call), records, then deletes them.
//
//   node --import tsx bench/record.ts      (BENCH_RECORD_COUNT=100)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { API } from '../src/index.ts';
import { benchName, envInt, FIXTURES, pool, sandboxEnv } from './lib.ts';

const KEEP_HEADERS = ['content-type', 'etag', 'location'];

interface Recorded {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  /** The file next to this index holding the body exactly as LXD sent it. */
  file: string;
  bytes: number;
}

async function main(): Promise<void> {
  const { socket, image } = sandboxEnv();
  if (!socket) {
    console.log('record: no LXD sandbox (run scripts/lxd-sandbox.sh up or set LXD_TEST_SOCKET); nothing recorded');
    return;
  }
  const count = envInt('BENCH_RECORD_COUNT', 100);
  const api = API.factory(socket, { waitTimeout: 120 });
  const raw = new Agent({ connect: { socketPath: socket } });
  const prefix = benchName();
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  const created: string[] = [];
  const index: Record<string, Recorded> = {};

  const record = async (key: string, path: string): Promise<string> => {
    const response = await raw.request({ origin: 'http://lxd', path, method: 'GET' });
    const text = await response.body.text();
    const headers: Record<string, string> = {};
    for (const name of KEEP_HEADERS) {
      const value = response.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const file = `${key}.json`;
    writeFileSync(join(FIXTURES, file), text);
    index[key] = { method: 'GET', path, status: response.statusCode, headers, file, bytes: Buffer.byteLength(text) };
    console.log(`record: ${path} -> HTTP ${response.statusCode}, ${Buffer.byteLength(text)} bytes`);
    return text;
  };

  try {
    const started = Date.now();
    let lastOperation = '';
    await pool(names, 8, async (name) => {
      const result = await api.post('instances', { json: { name, source: { type: 'image', alias: image } } });
      created.push(name);
      lastOperation = result.operation ?? lastOperation;
      let op = await result.wait();
      while (op.metadata.status_code === 103) op = await result.wait();
    });
    console.log(`record: created ${created.length} instances in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The wait of a finished operation answers at once with its final state.
    await record('operation-wait', `${lastOperation}/wait?timeout=30`);
    await record('server', '/1.0');
    const listing = await record('instances-recursion1', '/1.0/instances?recursion=1');
    const names0 = (JSON.parse(listing).metadata as Array<{ name: string }>).map((instance) => instance.name);
    const foreign = names0.filter((name) => !name.startsWith(prefix));
    if (foreign.length > 0) {
      // Other tests' instances share the daemon: keep ours only, re-encoded compactly as LXD does.
      const envelope = JSON.parse(listing);
      envelope.metadata = envelope.metadata.filter((instance: { name: string }) => instance.name.startsWith(prefix));
      const text = JSON.stringify(envelope);
      writeFileSync(join(FIXTURES, 'instances-recursion1.json'), text);
      (index['instances-recursion1'] as Recorded).bytes = Buffer.byteLength(text);
      console.log(`record: dropped ${foreign.length} instances that were not ours from the listing`);
    }
    index._note = {
      recorded: new Date().toISOString(),
      lxd: (JSON.parse(await raw.request({ origin: 'http://lxd', path: '/1.0', method: 'GET' }).then((r) => r.body.text())).metadata.environment
        .server_version as string),
      instances: count,
    } as unknown as Recorded;
    writeFileSync(join(FIXTURES, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  } finally {
    const started = Date.now();
    await pool([...created], 8, async (name) => {
      try {
        await api.delete(`instances/${name}`).wait({ timeout: 120 });
      } catch (error) {
        console.error(`record: could not delete ${name}: ${(error as Error).message}`);
      }
    });
    console.log(`record: deleted ${created.length} instances in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await api.close();
    await raw.close();
  }
}

await main();

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { format, promisify } from 'node:util';
import { API, APIException, REDACTED } from '../src/index.ts';
import { accepted, operation, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

const here = import.meta.dirname;
const FDS = { '0': 'e3b0c44298fc1c149afbf4c8996fb924', control: '27ae41e4649b934ca495991b7852b855' };

describe('DEBUG=lxd', () => {
  let server: TestServer;
  before(async () => {
    server = await unixServer((req, res) => {
      const url = (req.url ?? '').split('?')[0];
      if (url === '/1.0/certificates') return reply(res, 200, sync(null));
      if (url === '/1.0/instances/c1/exec')
        return accepted(res, operation('exec-1', { class: 'websocket', metadata: { fds: FDS } }));
      if (url === '/1.0/images') return accepted(res, operation('upload-1'));
      if (url === '/1.0/echo') return reply(res, 200, sync(JSON.parse(req.body.toString() || 'null')));
      if (url === '/1.0/fail')
        return reply(res, 400, {
          type: 'error',
          error: '',
          error_code: 400,
          metadata: JSON.parse(req.body.toString()),
        });
      return reply(res, 404, { type: 'error', error: 'Instance not found', error_code: 404, metadata: null });
    });
  });
  after(() => server.close());

  test('dumps every transaction to stderr as lxdapi does, with no secret', async () => {
    // Asynchronously: this process serves the child's requests.
    const child = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(here, 'fixtures', 'debug-dump.ts'), server.socketPath],
      {
        encoding: 'utf8',
        env: { ...process.env, DEBUG: 'lxd', DEBUG_COLORS: '0', DEBUG_HIDE_DATE: '1' },
        timeout: 20_000,
      },
    );
    const endpoint = API.factory(server.socketPath).endpoint;
    const dump = child.stderr;
    const received = JSON.parse(child.stdout) as Record<string, string>;
    assert.deepEqual(received, FDS);
    for (const secret of [...Object.values(received), 'pa55-w0rd-9f1c', 't0k3n-abc'])
      assert.ok(!dump.includes(secret), `${secret} leaked into:\n${dump}`);
    assert.ok(
      dump.includes(
        `lxd POST ${endpoint}/1.0/certificates\n{\n    "type": "client",\n    "name": "ci",\n    "password": "<redacted>",\n    "certificate": "MIIB..."\n}`,
      ),
      dump,
    );
    assert.ok(dump.includes('lxd HTTP/200\n{\n    "type": "sync",'), dump);
    assert.ok(dump.includes('lxd HTTP/202\n{\n    "type": "async",'), dump);
    assert.ok(
      dump.includes(
        '            "fds": {\n                "0": "<redacted>",\n                "control": "<redacted>"\n            }',
      ),
      dump,
    );
    assert.ok(dump.includes(`lxd POST ${endpoint}/1.0/images\n<1048576 bytes>\n`), dump);
    assert.ok(dump.includes(`lxd GET ${endpoint}/1.0/instances/missing\n`), dump);
    assert.ok(dump.includes('lxd HTTP/404\n'), dump);
    assert.equal(dump.match(/\n========================\n/g)?.length, 4);
  });

  test('with debug off nothing is printed and no dump string is built', async () => {
    let serialised = 0;
    const json = {
      toJSON() {
        serialised += 1;
        return { name: 'c1' };
      },
    };
    const quiet = API.factory(server.socketPath);
    const printed: string[] = [];
    quiet.log.log = (...args: unknown[]) => printed.push(format(...args));
    assert.ok(!quiet.log.enabled);
    await quiet.post('echo', { json });
    assert.deepEqual([serialised, printed.length], [1, 0]);

    // The same request with debug on serialises the body a second time, for the dump: the count can tell.
    const loud = API.factory(server.socketPath, { debug: true });
    loud.log.log = (...args: unknown[]) => printed.push(format(...args));
    await loud.post('echo', { json });
    assert.deepEqual([serialised, printed.length], [3, 2]);
    await Promise.all([quiet.close(), loud.close()]);
  });

  test('randomised: secrets at any depth of requests and responses never reach a dump or an error message', async () => {
    const api = API.factory(server.socketPath, { debug: true });
    const printed: string[] = [];
    api.log.log = (...args: unknown[]) => printed.push(format(...args));
    let seed = 20261123;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const secrets: string[] = [];
    const secret = () => {
      const value = `s3cr3t-${secrets.length}-${Math.floor(random() * 1e9).toString(36)}`;
      secrets.push(value);
      return value;
    };
    const build = (depth: number): unknown => {
      if (depth === 0) return random() < 0.5 ? 'plain' : 42;
      if (random() < 0.3) return [build(depth - 1), build(depth - 1)];
      const node: Record<string, unknown> = { name: 'x', child: build(depth - 1) };
      const pick = Math.floor(random() * 6);
      if (pick === 0) node.password = secret();
      if (pick === 1) node.trust_token = secret();
      if (pick === 2) node.token = secret();
      if (pick === 3) node.secret = secret();
      if (pick === 4) node.fds = { '0': secret(), '1': secret(), control: secret() };
      return node;
    };
    for (let round = 0; round < 40; round++) {
      const body = { metadata: build(1 + Math.floor(random() * 8)), password: secret() };
      const echoed = await api.post('echo', {
        json: body,
        headers: { Authorization: `Bearer ${secret()}` },
        query: { secret: secret() },
      });
      assert.deepEqual(echoed.metadata, body, 'the caller receives every value intact');
      assert.equal(echoed.request.headers.authorization, REDACTED);
      const error = await api.post('fail', { json: body }).catch((e: unknown) => e);
      assert.ok(error instanceof APIException);
      assert.deepEqual(error.result.metadata, body);
      for (const text of [
        error.message,
        error.result.requestSummary(),
        error.result.responseSummary(),
        echoed.requestSummary(),
        echoed.responseSummary(),
      ]) {
        printed.push(text);
      }
    }
    assert.equal(REDACTED, '<redacted>');
    const everything = printed.join('\n');
    assert.ok(secrets.length > 200, `only ${secrets.length} secrets`);
    for (const value of secrets) assert.ok(!everything.includes(value), `${value} leaked`);
    assert.ok(everything.includes('"password": "<redacted>"'));
    assert.ok(everything.includes('?secret=<redacted>'));
    await api.close();
  });
});

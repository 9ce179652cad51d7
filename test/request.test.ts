import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { API, type Instance, VERSION } from '../src/index.ts';
import { accepted, operation, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

describe('requests', () => {
  let server: TestServer;
  let api: API;
  before(async () => {
    server = await unixServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/1.0/instances/c1' && req.method === 'GET')
        return reply(res, 200, sync({ name: 'c1' }), { etag: '"abc123"' });
      if (path === '/1.0/instances/c1' && req.method === 'PUT') {
        if (req.headers['if-match'] !== '"abc123"')
          return reply(res, 412, {
            type: 'error',
            error: "ETag doesn't match: abc123 vs stale",
            error_code: 412,
            metadata: null,
          });
        return accepted(res, operation('put-1'));
      }
      if (path === '/1.0/instances/c1/files') {
        if (req.method === 'POST') return reply(res, 200, sync({}));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-lxd-type': 'file', 'x-lxd-mode': '0644' });
        return res.end(Buffer.from([0, 1, 2, 255]));
      }
      if (path === '/1.0/echo')
        return reply(
          res,
          200,
          sync({ method: req.method, url: req.url, headers: req.headers, body: req.body.toString('utf8') }),
        );
      return reply(res, 404, { type: 'error', error: 'Not Found', error_code: 404, metadata: null });
    });
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('every verb is a call into request() with its method', async () => {
    type Echo = { method: string };
    const results = [
      await api.get<Echo>('echo'),
      await api.post<Echo>('echo'),
      await api.put<Echo>('echo'),
      await api.patch<Echo>('echo'),
      await api.delete<Echo>('echo'),
    ];
    assert.deepEqual(
      results.map((result) => [result.request.method, result.metadata.method]),
      ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) => [method, method]),
    );
    assert.equal((await api.request<{ method: string }>('patch', 'echo')).metadata.method, 'PATCH');
  });

  test('serialises json, sends it as application/json and keeps it on the result', async () => {
    const result = await api.post<{ body: string; headers: Record<string, string> }>('echo', {
      json: { name: 'c1', source: { type: 'image' } },
    });
    assert.equal(result.metadata.body, '{"name":"c1","source":{"type":"image"}}');
    assert.equal(result.metadata.headers['content-type'], 'application/json');
    assert.equal(result.metadata.headers['user-agent'], api.userAgent);
    assert.deepEqual(result.request.body, { name: 'c1', source: { type: 'image' } });
    assert.equal(result.request.url, `${api.endpoint}/1.0/echo`);
    assert.equal(
      result.requestSummary(),
      `POST ${api.endpoint}/1.0/echo\n{\n    "name": "c1",\n    "source": {\n        "type": "image"\n    }\n}`,
    );
  });

  test('streams raw bodies as application/octet-stream unless headers say otherwise', async () => {
    const bodies = [
      'text body',
      new Uint8Array([104, 105]),
      Readable.from([Buffer.from('from '), Buffer.from('readable')]),
      (async function* () {
        yield new TextEncoder().encode('from ');
        yield new TextEncoder().encode('iterable');
      })(),
    ];
    const seen = [];
    for (const body of bodies) {
      const result = await api.post<{ body: string; headers: Record<string, string> }>('echo', { body });
      seen.push([result.metadata.body, result.metadata.headers['content-type']]);
    }
    assert.deepEqual(seen, [
      ['text body', 'application/octet-stream'],
      ['hi', 'application/octet-stream'],
      ['from readable', 'application/octet-stream'],
      ['from iterable', 'application/octet-stream'],
    ]);
    const typed = await api.post<{ headers: Record<string, string> }>('echo', {
      body: 'x',
      headers: { 'Content-Type': 'text/plain', 'X-LXD-uid': '0' },
    });
    assert.equal(typed.metadata.headers['content-type'], 'text/plain');
    assert.equal(typed.metadata.headers['x-lxd-uid'], '0');
    assert.equal(typed.requestSummary(), `POST ${api.endpoint}/1.0/echo\n<1 bytes>`);
  });

  test('a credential header reaches the server intact and is redacted in the result', async () => {
    const result = await api.post<{ headers: Record<string, string> }>('echo', {
      body: 'x',
      headers: { Authorization: 'Bearer abc', 'X-Trace': 't1' },
    });
    assert.equal(result.metadata.headers.authorization, 'Bearer abc');
    assert.deepEqual(result.request.headers, {
      'user-agent': `lxdapi/${VERSION}`,
      authorization: '<redacted>',
      'x-trace': 't1',
      'content-type': 'application/octet-stream',
    });
  });

  test('encodes query values and merges them onto a query already in the url', async () => {
    const result = await api.get<{ url: string }>('echo?recursion=1&a=b', {
      query: { filter: 'status eq Running & name eq "c 1"', recursion: 2, all: true, skipped: undefined },
    });
    assert.equal(
      result.metadata.url,
      '/1.0/echo?recursion=2&a=b&filter=status+eq+Running+%26+name+eq+%22c+1%22&all=true',
    );
  });

  test('sends the project option on requests that set none of their own', async () => {
    const scoped = API.factory(server.socketPath, { project: 'team a' });
    try {
      assert.equal((await scoped.get<{ url: string }>('echo')).metadata.url, '/1.0/echo?project=team+a');
      assert.equal(
        (await scoped.get<{ url: string }>('echo', { query: { project: 'other' } })).metadata.url,
        '/1.0/echo?project=other',
      );
      assert.equal((await scoped.get<{ url: string }>('echo?project=mine')).metadata.url, '/1.0/echo?project=mine');
    } finally {
      await scoped.close();
    }
  });

  test('keeps the ETag and sends it back as If-Match; a stale one gets 412', async () => {
    const current = await api.get<Instance>('instances/c1');
    assert.equal(current.etag, '"abc123"');
    const updated = await api.put('instances/c1', { json: { description: 'x' }, ifMatch: current.etag ?? '' });
    assert.equal(updated.status, 202);
    assert.equal(updated.operation, '/1.0/operations/put-1');
    await assert.rejects(api.put('instances/c1', { json: {}, ifMatch: '"stale"' }), {
      name: 'APIException',
      status: 412,
      message: `PUT ${api.endpoint}/1.0/instances/c1 ETag doesn't match: abc123 vs stale`,
    });
  });

  test('gives the bytes of a non-JSON response as body, with data and metadata undefined', async () => {
    const result = await api.get('instances/c1/files', { query: { path: '/etc/hostname' } });
    assert.deepEqual(result.body, Buffer.from([0, 1, 2, 255]));
    assert.equal(result.data, undefined);
    assert.equal(result.metadata, undefined);
    assert.equal(result.response.headers['x-lxd-type'], 'file');
    assert.equal(result.responseSummary(), 'HTTP/200\n<4 bytes>');
  });

  test('leaves a non-JSON body unread as stream with stream: true', async () => {
    const result = await api.get('instances/c1/files', { query: { path: '/big' }, stream: true });
    assert.equal(result.body, undefined);
    assert.ok(result.stream instanceof Readable);
    const chunks = [];
    for await (const chunk of result.stream) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), Buffer.from([0, 1, 2, 255]));
  });

  test('stream: true still parses and validates a JSON answer', async () => {
    await assert.rejects(api.get('nothing-here', { stream: true }), { name: 'APINotFoundException', status: 404 });
    const listing = await api.get<{ method: string }>('echo', { stream: true });
    assert.equal(listing.stream, undefined);
    assert.equal(listing.metadata.method, 'GET');
  });
});

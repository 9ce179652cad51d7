// The public options at their edges: where each one makes a request, a
// websocket or an events subscription fail as documented, or changes what is
// sent. The happy paths live with their features (request, wait, tls, ...).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API } from '../src/index.ts';
import { type FaultServer, faultServer } from './helpers/faults.ts';
import { reply, sync, type TestServer, unixServer } from './helpers/server.ts';
import { wsUnixServer } from './helpers/ws.ts';

describe('timeout: the API default, the request option, serverTimeout', () => {
  let server: FaultServer;
  let api: API;
  before(async () => {
    server = await faultServer();
    api = API.factory(server.socketPath, { timeout: 100 });
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test("the API's timeout applies to a request that sets none", async () => {
    await assert.rejects(api.get('never-answers'), {
      name: 'APIConnectionError',
      code: 'ERR_LXD_TIMEOUT',
      message: `GET ${api.endpoint}/1.0/never-answers failed: timed out after 100 ms (no complete answer before the timeout option expired)`,
    });
  });

  test("a request's own timeout wins over the API's", async () => {
    await assert.rejects(api.get('never-answers', { timeout: 300 }), {
      name: 'APIConnectionError',
      code: 'ERR_LXD_TIMEOUT',
      message: `GET ${api.endpoint}/1.0/never-answers failed: timed out after 300 ms (no complete answer before the timeout option expired)`,
    });
  });

  test("a long poll (serverTimeout) is not cut by the API's timeout: only its signal ends it here", async () => {
    const reason = new Error('long poll given up');
    const controller = new AbortController();
    // The API's 100 ms timer would fire first, in this same event loop, if it applied.
    setTimeout(() => controller.abort(reason), 400);
    await assert.rejects(
      api.get('never-answers', { serverTimeout: 5, signal: controller.signal }),
      (error: unknown) => error === reason,
    );
  });

  test("the API's timeout bounds a websocket handshake too; the websocket's own timeout wins", async () => {
    await assert.rejects(api.websocket('/1.0/never-answers'), {
      name: 'APIConnectionError',
      code: 'ERR_LXD_TIMEOUT',
      message: `GET ws://lxd/1.0/never-answers failed: timed out after 100 ms (no complete answer before the timeout option expired)`,
    });
    await assert.rejects(api.websocket('/1.0/never-answers', { timeout: 250 }), {
      name: 'APIConnectionError',
      code: 'ERR_LXD_TIMEOUT',
      message: `GET ws://lxd/1.0/never-answers failed: timed out after 250 ms (no complete answer before the timeout option expired)`,
    });
  });

  test('stream: true does not keep an error status unread: a proxy page still rejects with APIException', async () => {
    await assert.rejects(api.get('proxy-502', { stream: true }), {
      name: 'APIException',
      status: 502,
      message: `GET ${api.endpoint}/1.0/proxy-502 <html> <head><title>502 Bad Gateway</title></head> <body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>`,
    });
  });
});

describe('defaultVersion, userAgent, maxResponseBytes with stream', () => {
  const download = Buffer.alloc(2 * 1024 * 1024, 7);
  let server: TestServer;
  before(async () => {
    server = await unixServer((req, res) => {
      if (req.url === '/1.0/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(download);
      }
      reply(res, 200, sync({ url: req.url }));
    });
  });
  after(() => server.close());

  test('a defaultVersion other than 1.0 prefixes relative urls only', async () => {
    const api = API.factory(server.socketPath, { defaultVersion: '2.0' });
    try {
      assert.equal((await api.get<{ url: string }>('instances')).metadata.url, '/2.0/instances');
      assert.equal((await api.get<{ url: string }>('')).metadata.url, '/2.0');
      assert.equal((await api.get<{ url: string }>('/1.0/instances')).metadata.url, '/1.0/instances');
    } finally {
      await api.close();
    }
  });

  test('a custom userAgent is the header sent, and a request header overrides it', async () => {
    const api = API.factory(server.socketPath, { userAgent: 'robot/1' });
    try {
      await api.get('');
      assert.equal(server.seen.at(-1)?.headers['user-agent'], 'robot/1');
      await api.get('', { headers: { 'User-Agent': 'probe/2' } });
      assert.equal(server.seen.at(-1)?.headers['user-agent'], 'probe/2');
    } finally {
      await api.close();
    }
  });

  test('maxResponseBytes caps a buffered download, not a streamed one', async () => {
    const api = API.factory(server.socketPath, { maxResponseBytes: 1024 });
    try {
      await assert.rejects(api.get('download'), {
        name: 'APIException',
        message: `GET ${api.endpoint}/1.0/download response larger than maxResponseBytes (1024 bytes); use stream: true for large downloads`,
      });
      const streamed = await api.get('download', { stream: true });
      const chunks: Buffer[] = [];
      for await (const chunk of streamed.stream ?? []) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), download);
    } finally {
      await api.close();
    }
  });
});

describe('websocket and events options', () => {
  let server: Awaited<ReturnType<typeof wsUnixServer>>;
  let api: API;
  const upgrades: Array<{ url: string; headers: Record<string, string | string[] | undefined> }> = [];
  before(async () => {
    server = await wsUnixServer(
      (_req, res) => res.end(),
      (req) => {
        upgrades.push({ url: req.url ?? '', headers: req.headers });
        // /2.0/events never answers its upgrade.
        if (req.url?.startsWith('/2.0/')) return null;
        return () => {};
      },
    );
    api = API.factory(server.socketPath, { userAgent: 'robot/1' });
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('the userAgent and the headers option are sent on the upgrade; attach sees the socket before it opens', async () => {
    let attached: unknown;
    let stateWhenAttached = -1;
    const ws = await api.websocket('/1.0/echo', {
      headers: { 'X-Test': 'yes' },
      attach: (socket) => {
        attached = socket;
        stateWhenAttached = socket.readyState;
      },
    });
    assert.equal(attached, ws);
    assert.equal(stateWhenAttached, 0);
    assert.deepEqual([upgrades.at(-1)?.headers['user-agent'], upgrades.at(-1)?.headers['x-test']], ['robot/1', 'yes']);
    ws.close();
  });

  test('events: an empty type list is a TypeError, and nothing is sent', async () => {
    const before = upgrades.length;
    await assert.rejects(api.events({ type: [] }), {
      name: 'TypeError',
      message: 'the type option lists no event type',
    });
    assert.equal(upgrades.length, before);
  });

  test('events: the timeout option bounds the subscription, under the defaultVersion', async () => {
    const v2 = API.factory(server.socketPath, { defaultVersion: '2.0' });
    try {
      await assert.rejects(v2.events({ timeout: 200 }), {
        name: 'APIConnectionError',
        code: 'ERR_LXD_TIMEOUT',
        message:
          'GET ws://lxd/2.0/events failed: timed out after 200 ms (no complete answer before the timeout option expired)',
      });
      assert.equal(upgrades.at(-1)?.url, '/2.0/events');
    } finally {
      await v2.close();
    }
  });
});

// Several cluster members in one API, against local HTTPS servers that share
// one certificate (as LXD cluster members do): failover only for requests
// that could not be sent, the answering member first afterwards, `target`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { API, APIConnectionError } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { accepted, freePort, httpsServer, operation, reply, sync, type TestServer } from './helpers/server.ts';

// One certificate for every member, naming 127.0.0.1 (LXD's cluster certificate).
const pair = selfSigned('lxd-cluster', ['IP:127.0.0.1']);
const client = selfSigned('lxdapi-client', []);
const tls = { serverCert: pair.cert, ...client };

/** A member that echoes what it received, naming itself. */
async function member(name: string): Promise<TestServer> {
  return httpsServer(
    (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/1.0/reset') return req.socket.destroy();
      if (path === '/1.0/instances' && req.method === 'POST') return accepted(res, operation(`op-${name}`));
      if (path?.startsWith('/1.0/operations/') && path.endsWith('/wait'))
        return reply(res, 200, sync(operation(path.split('/')[3] as string, { status: 'Success', status_code: 200 })));
      const sha256 = createHash('sha256').update(req.body).digest('hex');
      reply(
        res,
        200,
        sync({
          member: name,
          method: req.method,
          url: req.url,
          body: req.body.toString('utf8'),
          size: req.body.length,
          sha256,
          type: req.headers['content-type'] ?? null,
        }),
      );
    },
    { ...pair, requestCert: true, rejectUnauthorized: false },
  );
}

type Echo = {
  member: string;
  method: string;
  url: string;
  body: string;
  size: number;
  sha256: string;
  type: string | null;
};

describe('a cluster client over several members', () => {
  let b: TestServer;
  let c: TestServer;
  let dead: string;
  before(async () => {
    [b, c] = await Promise.all([member('b'), member('c')]);
    dead = `https://127.0.0.1:${await freePort()}`;
  });
  after(async () => {
    await Promise.all([b.close(), c.close()]);
  });

  test('lists its members; the first is the endpoint until another answers', async () => {
    const api = API.factory([`${dead}/`, b.url, c.url], tls);
    try {
      assert.deepEqual(api.members, [dead, b.url, c.url]);
      assert.equal(api.endpoint, dead);
      assert.equal(api.formatUrl('instances'), `${dead}/1.0/instances`);
    } finally {
      await api.close();
    }
  });

  test('a GET refused by the first member is answered by the next one, which is tried first from then on', async () => {
    const port = Number(new URL(dead).port);
    const api = API.factory([dead, b.url, c.url], tls);
    let revived: TestServer | undefined;
    try {
      const before = b.seen.length;
      const result = await api.get<Echo>('');
      assert.equal(result.metadata.member, 'b');
      assert.equal(result.endpoint, b.url);
      assert.equal(result.request.url, `${b.url}/1.0`);
      assert.equal(api.endpoint, b.url);
      assert.equal(b.seen.length, before + 1);
      // The first member comes back: the API keeps to the member that answered.
      revived = await listenOn(port);
      const again = await api.get<Echo>('');
      assert.equal(again.metadata.member, 'b');
      assert.equal(again.endpoint, b.url);
      assert.equal(revived.seen.length, 0, 'the member that refused is not tried first any more');
    } finally {
      await api.close();
      await revived?.close();
    }
  });

  test('a POST with a JSON body fails over with its body and content type intact', async () => {
    const api = API.factory([dead, c.url, b.url], tls);
    try {
      const result = await api.post<Echo>('echo', {
        json: { name: 'c1', source: { type: 'image', alias: 'busybox' } },
      });
      assert.equal(result.endpoint, c.url);
      assert.deepEqual(
        [
          result.metadata.member,
          result.metadata.method,
          result.metadata.url,
          result.metadata.body,
          result.metadata.type,
        ],
        ['c', 'POST', '/1.0/echo', '{"name":"c1","source":{"type":"image","alias":"busybox"}}', 'application/json'],
      );
      assert.equal(api.endpoint, c.url);
    } finally {
      await api.close();
    }
  });

  test('a POST with a stream body (Readable, async iterable) fails over and the next member gets every byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const bodies = [
      () => Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]),
      () =>
        (async function* () {
          yield bytes.subarray(0, 70_000);
          yield bytes.subarray(70_000);
        })(),
    ];
    const other = `https://127.0.0.1:${await freePort()}`;
    for (const body of bodies) {
      const api = API.factory([dead, other, b.url], tls);
      try {
        const result = await api.post<Echo>('files', { body: body() });
        assert.equal(result.endpoint, b.url);
        assert.deepEqual(
          [result.metadata.size, result.metadata.sha256, result.metadata.type],
          [bytes.length, sha256, 'application/octet-stream'],
        );
      } finally {
        await api.close();
      }
    }
  });

  test('when no member can be connected to, a stream body is destroyed unread, as with one endpoint', async () => {
    const api = API.factory([dead, `https://127.0.0.1:${await freePort()}`], tls);
    let reads = 0;
    const body = new Readable({
      read() {
        reads++;
        this.push(null);
      },
    });
    try {
      await assert.rejects(api.post('files', { body }), { name: 'APIConnectionError', code: 'ECONNREFUSED' });
      assert.equal(body.destroyed, true);
      assert.equal(reads, 0);
    } finally {
      await api.close();
    }
  });

  test('a request the member received and then reset is not sent to another member', async () => {
    const reset = await member('reset');
    const api = API.factory([reset.url, b.url, c.url], tls);
    try {
      const [seenB, seenC] = [b.seen.length, c.seen.length];
      for (const send of [
        () => api.get('reset'),
        () => api.post('reset', { json: { once: true } }),
        () => api.post('reset', { body: Readable.from([Buffer.from('once')]) }),
      ]) {
        await assert.rejects(send(), (error: unknown) => {
          assert.ok(error instanceof APIConnectionError, String(error));
          assert.equal(error.endpoint, reset.url);
          assert.match(error.code, /^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/);
          assert.match(error.message, new RegExp(`^(GET|POST) ${reset.url}/1\\.0/reset failed: `));
          return true;
        });
      }
      assert.equal(reset.seen.length, 3, 'each request reached the member once');
      assert.deepEqual([b.seen.length, c.seen.length], [seenB, seenC], 'and no other member');
      assert.equal(api.endpoint, reset.url);
    } finally {
      await api.close();
      await reset.close();
    }
  });

  test('every member refusing rejects with APIConnectionError for the last one tried, with its code', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const urls = ports.map((port) => `https://127.0.0.1:${port}`);
    const api = API.factory(urls, tls);
    try {
      await assert.rejects(api.post('instances', { json: { name: 'x' } }), (error: unknown) => {
        assert.ok(error instanceof APIConnectionError, String(error));
        assert.equal(error.code, 'ECONNREFUSED');
        assert.equal(error.endpoint, urls[2]);
        assert.match(
          error.message,
          new RegExp(`^POST ${urls[2]}/1\\.0/instances failed: .*nothing listens at ${urls[2]}`),
        );
        return true;
      });
      assert.equal(api.endpoint, urls[0], 'no member answered: the current member is unchanged');
    } finally {
      await api.close();
    }
  });

  test('the search goes on from the current member and wraps around to the first', async () => {
    const first = await freePort();
    const last = await member('last');
    const api = API.factory([`https://127.0.0.1:${first}`, dead, last.url], tls);
    let revived: TestServer | undefined;
    try {
      assert.equal((await api.get<Echo>('')).endpoint, last.url);
      assert.equal(api.endpoint, last.url);
      await last.close();
      revived = await listenOn(first, 'first');
      const result = await api.get<Echo>('');
      assert.equal(result.metadata.member, 'first');
      assert.equal(result.endpoint, `https://127.0.0.1:${first}`);
      assert.equal(api.endpoint, `https://127.0.0.1:${first}`);
    } finally {
      await api.close();
      await revived?.close();
    }
  });

  test('wait() on an operation follows the member that answered', async () => {
    const api = API.factory([dead, b.url], tls);
    try {
      const created = await api.post('instances', { json: { name: 'c1' } });
      assert.equal(created.endpoint, b.url);
      const done = await created.wait({ timeout: 5 });
      assert.equal(done.endpoint, b.url);
      assert.equal(done.request.url, `${b.url}/1.0/operations/op-b/wait?timeout=5`);
      assert.equal(done.metadata.status_code, 200);
    } finally {
      await api.close();
    }
  });

  test('the target option is sent as ?target= on requests without their own; a request target wins', async () => {
    const api = API.factory([dead, b.url], { ...tls, target: 'member2', project: 'p1' });
    try {
      assert.equal(api.target, 'member2');
      const url = async (path: string, options = {}) => (await api.get<Echo>(path, options)).metadata.url;
      assert.equal(await url('instances'), '/1.0/instances?project=p1&target=member2');
      assert.equal(await url('instances', { target: 'member3' }), '/1.0/instances?target=member3&project=p1');
      assert.equal(await url('instances?target=member1'), '/1.0/instances?target=member1&project=p1');
      assert.equal(
        await url('instances', { query: { target: 'member1', recursion: 1 } }),
        '/1.0/instances?target=member1&recursion=1&project=p1',
      );
      assert.equal(
        await url('instances?target=member1', { target: 'member3' }),
        '/1.0/instances?target=member3&project=p1',
      );
      const posted = await api.post<Echo>('echo', { json: { name: 'c1' }, target: 'member3' });
      assert.equal(posted.metadata.url, '/1.0/echo?target=member3&project=p1');
      assert.equal(posted.request.url, `${b.url}/1.0/echo?target=member3&project=p1`);
    } finally {
      await api.close();
    }
    const plain = API.factory([b.url], tls);
    try {
      assert.equal(plain.target, undefined);
      assert.equal(
        (await plain.get<Echo>('instances', { target: 'member2' })).metadata.url,
        '/1.0/instances?target=member2',
      );
      assert.equal((await plain.get<Echo>('instances')).metadata.url, '/1.0/instances');
    } finally {
      await plain.close();
    }
  });

  test('bad member lists are refused before anything is sent', () => {
    assert.throws(() => API.factory([], tls), {
      name: 'TypeError',
      message: 'API.factory() needs at least one cluster member',
    });
    assert.throws(() => API.factory([b.url, '/var/lib/lxd/unix.socket'], tls), {
      name: 'TypeError',
      message: 'cluster members are https:// URLs, got /var/lib/lxd/unix.socket',
    });
  });
});

/** A member listening on a given port again (after that port refused). */
function listenOn(port: number, name = 'revived'): Promise<TestServer> {
  return httpsServer((_req, res) => reply(res, 200, sync({ member: name })), pair, port);
}

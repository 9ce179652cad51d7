// API.join() when the server refuses, or the arguments cannot work: what is thrown, and what is left behind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { API, APIConnectionError, APIException } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { failure, sync } from './helpers/server.ts';
import { tokenFingerprint, trustToken } from './helpers/token.ts';
import { type FakeServer, fakeServer, issue as issueToken, paths, silent } from './helpers/trust-servers.ts';

const T = { timeout: 15_000 };

describe('API.join() refused', () => {
  const serverPair = selfSigned('lxd-test', ['IP:127.0.0.1']);
  const otherPair = selfSigned('impostor', ['IP:127.0.0.1']);
  const fingerprint = tokenFingerprint(serverPair.cert);
  const servers: Array<{ close(): Promise<void> }> = [];
  let lxd50: FakeServer;
  before(async () => {
    lxd50 = await fakeServer('lxd-5.0', serverPair);
    servers.push(lxd50);
  });
  after(async () => {
    for (const server of servers) await server.close();
  });

  /** A token the server accepts once, naming it by address and fingerprint. */
  const issue = (server: FakeServer, fields?: Record<string, unknown>) => issueToken(server, fingerprint, fields);

  test(
    'a refused token rejects with the server’s words, closes the API, and keeps no copy of the token',
    T,
    async () => {
      const client = selfSigned('joiner', []);
      const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${lxd50.port}`] }); // not issued
      const error = await API.join(token, client).catch((e: unknown) => e);
      assert.ok(error instanceof APIException, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.message, `POST ${lxd50.url}/1.0/certificates not authorized`);
      assert.deepEqual(error.result.request.body, {
        type: 'client',
        password: '<redacted>',
        trust_token: '<redacted>',
      });
      const secret = JSON.parse(Buffer.from(token, 'base64').toString()).secret as string;
      for (const text of [
        error.message,
        error.stack ?? '',
        JSON.stringify(error.result.request),
        error.result.requestSummary(),
      ]) {
        assert.ok(!text.includes(token) && !text.includes(secret));
      }
      await assert.rejects(error.result.api.request('GET', ''), (closed: unknown) => {
        assert.ok(closed instanceof APIConnectionError);
        assert.equal(closed.code, 'UND_ERR_DESTROYED');
        return true;
      });
    },
  );

  test('an already trusted certificate: the server refuses the token, yet trusts us, so join resolves', T, async () => {
    const client = selfSigned('joiner', []);
    const first = await API.join(issue(lxd50), client);
    await first.close();
    const server = await fakeServer('lxd-5.0', serverPair, () => [400, failure(400, 'Client is already trusted')]);
    try {
      // The same certificate is trusted by this server too.
      server.trusted.add([...lxd50.trusted].at(-1) as string);
      const api = await API.join(trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`] }), client);
      await api.close();
      assert.deepEqual(paths(server.seen), ['GET /1.0', 'POST /1.0/certificates', 'GET /1.0']);
    } finally {
      await server.close();
    }
  });

  test('a server that accepts the token but still does not trust us: APIException', T, async () => {
    const server = await fakeServer('lxd-5.0', serverPair, () => [200, sync(null)]);
    try {
      const token = trustToken({ fingerprint, addresses: [`127.0.0.1:${server.port}`] });
      const error = await API.join(token, selfSigned('joiner', [])).catch((e: unknown) => e);
      assert.ok(error instanceof APIException, String(error));
      assert.equal(error.message, `GET ${server.url}/1.0 auth is untrusted after the server accepted the trust token`);
    } finally {
      await server.close();
    }
  });

  test('bad arguments and a bad token are TypeErrors, before any connection', T, async () => {
    const quiet = await silent();
    try {
      const client = selfSigned('joiner', []);
      const token = trustToken({ fingerprint, addresses: [quiet.address] });
      const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
        [
          'cert alone',
          () => API.join(token, { cert: client.cert }),
          /^a client certificate needs both cert and key; only cert/,
        ],
        ['key alone', () => API.join(token, { key: client.key }), /only key was given$/],
        ['cert not PEM', () => API.join(token, { cert: 'x', key: client.key }), /^the cert option is not a PEM cert/],
        [
          'not the pair',
          () => API.join(token, { ...client, key: otherPair.key }),
          /^the key option is not a PEM private key/,
        ],
        [
          'serverCert',
          () => API.join(token, { ...client, serverCert: serverPair.cert } as never),
          /the serverCert option/,
        ],
        ['dispatcher', () => API.join(token, { ...client, dispatcher: new Agent() } as never), /the dispatcher option/],
        ['malformed', () => API.join('not a token', client), /^the trust token is not base64/],
        ['expired', () => API.join(trustToken({ fingerprint, expires_at: '2020-01-01T00:00:00Z' }), client), /expired/],
        [
          'bad address',
          () => API.join(token, { ...client, addresses: ['https://a b'] }),
          /"https:\/\/a b" is not a host/,
        ],
      ];
      for (const [what, join, message] of cases) {
        await assert.rejects(join(), (error: unknown) => {
          assert.ok(error instanceof TypeError, `${what}: ${String(error)}`);
          assert.match(error.message, message, what);
          return true;
        });
      }
      assert.equal(quiet.connections(), 0);
    } finally {
      await quiet.close();
    }
  });
});

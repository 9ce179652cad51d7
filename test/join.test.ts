// API.join() against real local TLS servers (helpers/trust-servers.ts): the token sent where each kind of server
// reads it, an impostor that gets nothing, addresses that cannot be reached, the command line's certificate.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { API, APIConnectionError, RemoteConfigError } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { runTsx } from './helpers/child.ts';
import { withEnv } from './helpers/env.ts';
import { freePort } from './helpers/server.ts';
import { tokenFingerprint, trustToken } from './helpers/token.ts';
import {
  bodyOf,
  type FakeServer,
  fakeServer,
  impostor,
  issue as issueToken,
  paths,
  silent,
} from './helpers/trust-servers.ts';

const T = { timeout: 15_000 };

describe('API.join()', () => {
  const serverPair = selfSigned('lxd-test', ['IP:127.0.0.1']);
  const otherPair = selfSigned('impostor', ['IP:127.0.0.1']);
  const fingerprint = tokenFingerprint(serverPair.cert);
  const servers: Array<{ close(): Promise<void> }> = [];
  let lxd50: FakeServer;
  let lxd6: FakeServer;
  let incus: FakeServer;
  before(async () => {
    lxd50 = await fakeServer('lxd-5.0', serverPair);
    lxd6 = await fakeServer('lxd-explicit', serverPair);
    incus = await fakeServer('incus', serverPair);
    servers.push(lxd50, lxd6, incus);
  });
  after(async () => {
    for (const server of servers) await server.close();
  });

  /** A token the server accepts once, naming it by address and fingerprint. */
  const issue = (server: FakeServer, fields?: Record<string, unknown>) => issueToken(server, fingerprint, fields);

  test(
    'LXD 5.0: the fingerprint checked, the token in password and trust_token, a trusted API returned',
    T,
    async () => {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50);
      const before = lxd50.seen.length;
      const api = await API.join(token, { ...client, project: 'p1' });
      try {
        assert.equal(api.endpoint, lxd50.url);
        assert.equal(api.project, 'p1');
        assert.equal(api.serverCertificate, serverPair.cert.replace(/\r/g, ''));
        const seen = lxd50.seen.slice(before);
        // The join itself goes without the project: it is the trusted API's, for what comes after.
        assert.deepEqual(paths(seen), ['GET /1.0', 'POST /1.0/certificates', 'GET /1.0']);
        assert.deepEqual(bodyOf(seen[1]), { type: 'client', password: token, trust_token: token });
        assert.equal((await api.get('')).metadata.auth, 'trusted');
        await api.get('instances');
        assert.equal(lxd50.seen.at(-1)?.url, '/1.0/instances?project=p1');
      } finally {
        await api.close();
      }
    },
  );

  test('Incus 6.0 takes the same body (it reads trust_token)', T, async () => {
    const client = selfSigned('joiner', []);
    const api = await API.join(issue(incus), client);
    try {
      assert.equal((await api.get('')).metadata.auth, 'trusted');
    } finally {
      await api.close();
    }
  });

  test('a server with explicit_trust_token gets trust_token alone', T, async () => {
    const client = selfSigned('joiner', []);
    const token = issue(lxd6);
    const before = lxd6.seen.length;
    const api = await API.join(token, client);
    try {
      assert.deepEqual(bodyOf(lxd6.seen[before + 1]), { type: 'client', trust_token: token });
      assert.equal((await api.get('')).metadata.auth, 'trusted');
    } finally {
      await api.close();
    }
  });

  test("a token of LXD 6's auth API (with a type) goes to /1.0/auth/identities/tls", T, async () => {
    const client = selfSigned('joiner', []);
    const token = issue(lxd6, { type: 'Client certificate (pending)' });
    const before = lxd6.seen.length;
    const api = await API.join(token, client);
    try {
      assert.deepEqual(paths(lxd6.seen.slice(before)), ['GET /1.0', 'POST /1.0/auth/identities/tls', 'GET /1.0']);
      assert.deepEqual(bodyOf(lxd6.seen[before + 1]), { trust_token: token });
    } finally {
      await api.close();
    }
  });

  test('an impostor at the address receives nothing at all; the genuine server still joins', T, async () => {
    const fake = await impostor(otherPair);
    try {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50, { addresses: [fake.address] });
      const error = await API.join(token, client).then(
        () => assert.fail('joined an impostor'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof APIConnectionError, String(error));
      assert.equal(error.code, 'ERR_LXD_CERT_PIN_MISMATCH');
      assert.equal(error.endpoint, `https://${fake.address}`);
      const presented = tokenFingerprint(otherPair.cert);
      const reason = `https://${fake.address} presented certificate ${presented}, not the token's ${fingerprint}`;
      assert.equal(error.message.split(' (')[0], `cannot join with the trust token: ${reason}`);
      assert.match(error.hint, /^nothing was sent to a server whose certificate is not the token's/);
      assert.ok(!error.message.includes(token));
      // The message names the certificate the probe read: its handshake got that far, and it wrote nothing after.
      assert.equal(fake.connections, 1);
      assert.equal(fake.bytes(), 0, 'no application data');

      // The same token, the impostor first: it is skipped, still without a byte, and the real server takes it.
      const api = await API.join(token, { ...client, addresses: [fake.address, `127.0.0.1:${lxd50.port}`] });
      try {
        assert.equal(api.endpoint, lxd50.url);
        assert.equal(fake.connections, 2);
        assert.equal(fake.bytes(), 0);
      } finally {
        await api.close();
      }
    } finally {
      await fake.close();
    }
  });

  test('unreachable addresses are skipped; when none can be reached, the last failure is the error', T, async () => {
    const client = selfSigned('joiner', []);
    const refused = `127.0.0.1:${await freePort()}`;
    const api = await API.join(issue(lxd50, { addresses: [refused, `127.0.0.1:${lxd50.port}`] }), client);
    await api.close();
    assert.equal(api.endpoint, lxd50.url);
    const error = await API.join(trustToken({ fingerprint, addresses: [refused] }), client).catch((e: unknown) => e);
    assert.ok(error instanceof APIConnectionError, String(error));
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(
      error.message,
      new RegExp(`^cannot join with the trust token: https://${refused}: connect ECONNREFUSED`),
    );
    assert.match(error.hint, /^no address of the token could be reached/);
  });

  test('a server that never completes the handshake times out', T, async () => {
    const quiet = await silent();
    try {
      const token = trustToken({ fingerprint, addresses: [quiet.address] });
      const error = await API.join(token, { ...selfSigned('joiner', []), timeout: 300 }).catch((e: unknown) => e);
      assert.ok(error instanceof APIConnectionError, String(error));
      assert.equal(error.code, 'ETIMEDOUT');
      assert.match(error.message, /no TLS handshake within 300 ms/);
      assert.equal(quiet.connections(), 1);
    } finally {
      await quiet.close();
    }
  });

  test(
    "without cert and key, the command line's client.crt and client.key; none there: RemoteConfigError",
    T,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lxdapi-join-'));
      try {
        const client = selfSigned('from-folder', []);
        mkdirSync(join(dir, 'lxc'));
        writeFileSync(join(dir, 'lxc', 'client.crt'), client.cert);
        writeFileSync(join(dir, 'lxc', 'client.key'), client.key);
        await withEnv({ LXD_CONF: join(dir, 'lxc'), INCUS_CONF: undefined }, async () => {
          const api = await API.join(issue(lxd50));
          try {
            assert.equal((await api.get('')).metadata.auth, 'trusted');
          } finally {
            await api.close();
          }
        });
        const error = await API.join(issue(lxd50), { configDir: join(dir, 'empty') }).catch((e: unknown) => e);
        assert.ok(error instanceof RemoteConfigError, String(error));
        assert.equal(error.code, 'ERR_LXD_REMOTE_CERT_MISSING');
        assert.match(
          error.message,
          /^API\.join\(\) needs a client certificate, and .*empty\/client\.crt and .*client\.key/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('DEBUG=lxd dumps the join with the token and its secret redacted', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxdapi-join-debug-'));
    try {
      const client = selfSigned('joiner', []);
      const token = issue(lxd50);
      const secret = JSON.parse(Buffer.from(token, 'base64').toString()).secret as string;
      for (const [name, text] of Object.entries({ token, cert: client.cert, key: client.key })) {
        writeFileSync(join(dir, name), text);
      }
      const child = join(import.meta.dirname, 'fixtures', 'join-debug.ts');
      const { code, output } = await withEnv({ DEBUG: 'lxd' }, () => runTsx([child, dir], 10_000));
      assert.equal(code, 0, output);
      assert.match(
        output,
        /POST https:\/\/127\.0\.0\.1:\d+\/1\.0\/certificates\n\{\n {4}"type": "client",\n {4}"password": "<redacted>"/,
      );
      assert.match(output, /^joined: trusted$/m);
      assert.ok(!output.includes(token) && !output.includes(secret), 'no token, no secret');
      assert.ok(!output.includes('PRIVATE KEY'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

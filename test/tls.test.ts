import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { API, APIConnectionError } from '../src/index.ts';
import { type Pair, selfSigned, signedBy } from './helpers/certs.ts';
import { withEnv } from './helpers/env.ts';
import { httpsServer, reply, sync, type TestServer } from './helpers/server.ts';

// What the server says about the client certificate, as LXD's `auth` does.
const whoAmI = (req: { socket: unknown }, res: Parameters<typeof reply>[0]) => {
  const peer = (req.socket as TLSSocket).getPeerCertificate();
  reply(res, 200, sync({ client: peer?.subject?.CN ?? null }));
};

async function refusal(api: API): Promise<APIConnectionError> {
  const error = await api.get('').catch((e: unknown) => e);
  await api.close();
  assert.ok(error instanceof APIConnectionError, String(error));
  return error;
}

describe('TLS remotes', () => {
  // Like LXD's own certificate: self-signed, naming a host name and 127.0.0.1, not "localhost".
  const serverPair = selfSigned('lxd-test', ['DNS:lxd-test.invalid', 'IP:127.0.0.1']);
  const otherPair = selfSigned('other', ['DNS:other.invalid', 'IP:127.0.0.1']);
  const client = selfSigned('lxdapi-client', []);
  const serverFingerprint = new X509Certificate(serverPair.cert).fingerprint256;
  let server: TestServer;
  before(async () => {
    server = await httpsServer(whoAmI, { ...serverPair, requestCert: true, rejectUnauthorized: false });
  });
  after(() => server.close());

  test('a pinned certificate is accepted through a host name it does not carry, with the client certificate', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const api = API.factory(`https://${host}:${server.port}`, { serverCert: serverPair.cert, ...client });
      const result = await api.get<{ client: string }>('');
      assert.equal(result.metadata.client, 'lxdapi-client');
      assert.equal(result.request.url, `https://${host}:${server.port}/1.0`);
      await api.close();
    }
  });

  test('a wrong pin is refused, naming both fingerprints', async () => {
    const error = await refusal(API.factory(server.url, { serverCert: otherPair.cert, ...client }));
    assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(error.endpoint, server.url);
    assert.equal(
      error.hint,
      `the server's certificate is not the pinned serverCert (${new X509Certificate(otherPair.cert).fingerprint256})`,
    );
    assert.notEqual(serverFingerprint, new X509Certificate(otherPair.cert).fingerprint256);
  });

  test('a certificate signed by the pinned one is still not the pinned one', async () => {
    const child = signedBy(serverPair, 'child', ['DNS:localhost', 'IP:127.0.0.1']);
    const impostor = await httpsServer(whoAmI, child);
    try {
      const error = await refusal(API.factory(impostor.url, { serverCert: serverPair.cert, ...client }));
      assert.equal(error.code, 'ERR_LXD_CERT_PIN_MISMATCH');
      assert.equal(
        error.message,
        `GET ${impostor.url}/1.0 failed: server certificate ${new X509Certificate(child.cert).fingerprint256} is not the pinned ${serverFingerprint} (the server's certificate is not the pinned serverCert (${serverFingerprint}))`,
      );
    } finally {
      await impostor.close();
    }
  });

  test('without a pin or a CA, a self-signed server is refused and the hint says how to trust it', async () => {
    const error = await refusal(API.factory(server.url, client));
    assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(
      error.hint,
      "the server's certificate is not trusted: pass it as serverCert (lxc keeps it in ~/.config/lxc/servercerts/) or its CA as ca",
    );
  });

  test('with a CA, host names are checked: a mismatch is refused with a hint to pin', async () => {
    const error = await refusal(API.factory(`https://localhost:${server.port}`, { ca: serverPair.cert, ...client }));
    assert.equal(error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.equal(
      error.hint,
      `the server's certificate does not name the host of https://localhost:${server.port}: pin it with the serverCert option to connect whatever the host name`,
    );
  });

  test('a PKI setup: a server certificate signed by the given CA is accepted', async () => {
    const ca = selfSigned('lxdapi-test-ca', []);
    const pki = await httpsServer(whoAmI, signedBy(ca, 'pki-server', ['DNS:localhost']));
    try {
      const api = API.factory(`https://localhost:${pki.port}`, { ca: ca.cert, ...client });
      assert.equal((await api.get<{ client: string | null }>('')).metadata.client, null);
      await api.close();
    } finally {
      await pki.close();
    }
  });

  test('a PKI server certificate signed by another CA than the one given is refused', async () => {
    const ca = selfSigned('lxdapi-test-ca', []);
    const otherCa = selfSigned('lxdapi-other-ca', []);
    const pki = await httpsServer(whoAmI, signedBy(ca, 'pki-server', ['DNS:localhost']));
    try {
      const error = await refusal(API.factory(`https://localhost:${pki.port}`, { ca: otherCa.cert, ...client }));
      assert.deepEqual(
        [error.code, error.endpoint, error.hint],
        [
          'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
          `https://localhost:${pki.port}`,
          "the server's certificate is not trusted: pass it as serverCert (lxc keeps it in ~/.config/lxc/servercerts/) or its CA as ca",
        ],
      );
    } finally {
      await pki.close();
    }
  });

  test('expired and not-yet-valid certificates are refused even when pinned', async () => {
    const cases: Array<[Pair, string, string]> = [
      [
        selfSigned('expired', ['IP:127.0.0.1'], { start: '20200101000000Z', end: '20210101000000Z' }),
        'CERT_HAS_EXPIRED',
        "the server's certificate has expired",
      ],
      [
        selfSigned('future', ['IP:127.0.0.1'], { start: '20900101000000Z', end: '20910101000000Z' }),
        'CERT_NOT_YET_VALID',
        "the server's certificate is not valid yet: check both clocks",
      ],
    ];
    for (const [pair, code, hint] of cases) {
      const bad = await httpsServer(whoAmI, pair);
      try {
        const error = await refusal(API.factory(bad.url, { serverCert: pair.cert, ...client }));
        assert.deepEqual([error.code, error.hint], [code, hint]);
      } finally {
        await bad.close();
      }
    }
  });

  test('a server that demands a client certificate the client lacks: refused, saying so', async () => {
    const strict = await httpsServer(whoAmI, {
      ...serverPair,
      requestCert: true,
      rejectUnauthorized: true,
      ca: client.cert,
    });
    try {
      // No ~/.config/lxc/client.crt to fall back on.
      const error = await withEnv({ HOME: '/nonexistent' }, () =>
        refusal(API.factory(strict.url, { serverCert: serverPair.cert })),
      );
      // TLS 1.3 rejects after the handshake: the alert, or just the close, whichever the client reads first.
      if (error.code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
        assert.equal(
          error.hint,
          'the server refused the TLS handshake over the client certificate: pass cert and key, and trust them on the server (lxc config trust add)',
        );
      } else {
        assert.match(error.code, /^(ECONNRESET|UND_ERR_SOCKET)$/);
        assert.equal(
          error.hint,
          `${strict.url} closed the connection before answering, and no client certificate was given: pass cert and key, trusted on the server (lxc config trust add)`,
        );
      }
      const api = API.factory(strict.url, { serverCert: serverPair.cert, ...client });
      assert.equal((await api.get<{ client: string }>('')).metadata.client, 'lxdapi-client');
      await api.close();
    } finally {
      await strict.close();
    }
  });

  test('certificate material that cannot work fails at factory() with a TypeError naming the option, never its contents', () => {
    const url = server.url;
    const cases: Array<[Record<string, string>, string]> = [
      [{ cert: client.cert, key: otherPair.key }, 'the key option is not the private key of the cert option'],
      [{ cert: client.cert }, 'a client certificate needs both cert and key; only cert was given'],
      [{ key: client.key }, 'a client certificate needs both cert and key; only key was given'],
    ];
    for (const [options, message] of cases)
      assert.throws(() => API.factory(url, { serverCert: serverPair.cert, ...options }), {
        name: 'TypeError',
        message,
      });
    const unreadable: Array<[Record<string, unknown>, string]> = [
      [
        { cert: client.cert, key: 'opaque-41f7', serverCert: serverPair.cert },
        'the key option could not be read as PEM',
      ],
      [
        { cert: 'opaque-41f7', key: client.key, serverCert: serverPair.cert },
        'the cert option could not be read as PEM',
      ],
      [{ ...client, serverCert: 'opaque-41f7' }, 'the serverCert option is not a PEM certificate'],
      // OpenSSL itself would skip a CA it cannot parse without a word.
      [{ ...client, ca: [serverPair.cert, 'opaque-41f7'] }, 'the ca option is not a PEM certificate'],
    ];
    for (const [options, start] of unreadable) {
      assert.throws(
        () => API.factory(url, options),
        (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.ok(error.cause instanceof Error);
          assert.equal(error.message, `${start}: ${error.cause.message}`);
          assert.ok(!error.message.includes('opaque-41f7'), 'the option value is not quoted');
          return true;
        },
      );
    }
  });

  test("lxc's own client certificate with a key that is not its own: the files are named", async () => {
    const home = mkdtempSync(join(tmpdir(), 'lxdapi-home-'));
    try {
      const folder = join(home, '.config', 'lxc');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'client.crt'), client.cert);
      writeFileSync(join(folder, 'client.key'), otherPair.key);
      await withEnv({ HOME: home }, () => {
        assert.throws(() => API.factory(server.url, { serverCert: serverPair.cert }), {
          name: 'TypeError',
          message: `${folder}/client.key is not the private key of ${folder}/client.crt`,
        });
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

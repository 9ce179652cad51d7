// End to end over HTTPS: the pinned server certificate, whatever the host
// name; a wrong pin; an untrusted client certificate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { API, APIConnectionError, APIException, type Server } from '../../src/index.ts';
import { instanceLifecycle, lxd, perServer, serverName, skip, tlsFiles, uniqueName } from './helpers.ts';

describe(`HTTPS to ${serverName}`, skip, () => {
  let files: ReturnType<typeof tlsFiles>;
  let port: string;
  const apis: API[] = [];
  const open = (url: string, options: Parameters<typeof API.factory>[1]) => {
    const api = API.factory(url, options);
    apis.push(api);
    return api;
  };
  before(() => {
    files = tlsFiles();
    port = new URL(lxd.url).port;
  });
  after(async () => {
    for (const api of apis) await api.close();
  });

  test('the main flow with a pinned server certificate and a trusted client certificate', {
    timeout: 60_000,
  }, async () => {
    const api = open(lxd.url, { serverCert: files.serverCert, cert: files.cert, key: files.key });
    const server = await api.get<Server>('/1.0');
    assert.equal(server.metadata.auth, 'trusted');
    assert.ok(server.metadata.api_extensions.includes('api_filtering'));
    await instanceLifecycle(api, uniqueName('e2e-tls'));
  });

  test('the pin holds through a host name the certificate does not carry', { timeout: 60_000 }, async () => {
    const certificate = new X509Certificate(files.serverCert);
    assert.equal(
      certificate.checkHost('localhost'),
      undefined,
      `the precondition: the server certificate does not name localhost (${certificate.subjectAltName})`,
    );
    const url = `https://localhost:${port}`;

    // Without the pin, the usual checks apply and fail: first the self-signed chain...
    const unpinned = open(url, { cert: files.cert, key: files.key });
    await assert.rejects(unpinned.get('/1.0'), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
      assert.match(error.hint, /^the server's certificate is not trusted: pass it as serverCert/);
      return true;
    });
    // ...then, with the certificate as a CA, the host name.
    const asCa = open(url, { ca: files.serverCert, cert: files.cert, key: files.key });
    await assert.rejects(asCa.get('/1.0'), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.equal(
        error.hint,
        `the server's certificate does not name the host of ${url}: pin it with the serverCert option to connect whatever the host name`,
      );
      return true;
    });

    const api = open(url, { serverCert: files.serverCert, cert: files.cert, key: files.key });
    assert.equal((await api.get<Server>('/1.0')).metadata.auth, 'trusted');
    await instanceLifecycle(api, uniqueName('e2e-tls-localhost'));
  });

  test('a wrong pin is refused before anything is sent', async () => {
    const wrong = new X509Certificate(files.untrustedCert).fingerprint256;
    const api = open(lxd.url, { serverCert: files.untrustedCert, cert: files.cert, key: files.key });
    await assert.rejects(api.get('/1.0'), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.endpoint, lxd.url);
      assert.equal(error.hint, `the server's certificate is not the pinned serverCert (${wrong})`);
      assert.ok(error.message.startsWith(`GET ${lxd.url}/1.0 failed: `), error.message);
      assert.ok(
        error.message.endsWith(`(the server's certificate is not the pinned serverCert (${wrong}))`),
        error.message,
      );
      return true;
    });
  });

  test('an untrusted client certificate sees the public server document and 403 elsewhere', async () => {
    const api = open(lxd.url, { serverCert: files.serverCert, cert: files.untrustedCert, key: files.untrustedKey });
    const server = await api.get<Server>('/1.0');
    assert.equal(server.status, 200);
    assert.equal(server.metadata.auth, 'untrusted');
    assert.deepEqual(server.metadata.auth_methods, ['tls']);
    // No configuration for the untrusted: LXD 5.0 leaves the field out, Incus 6.0 sends it empty.
    assert.deepEqual(
      server.metadata.config,
      perServer({ lxd: undefined, incus: {} }),
      'no configuration for the untrusted',
    );

    for (const [method, path] of [
      ['GET', '/1.0/instances'],
      ['GET', `/1.0/instances/${uniqueName('e2e-tls-nope')}`],
      ['POST', '/1.0/instances'],
    ] as const) {
      const error = await api.request(method, path, method === 'POST' ? { json: {} } : {}).then(
        () => assert.fail(`${method} ${path} was allowed`),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof APIException, String(error));
      assert.equal(error.status, 403);
      assert.equal(error.message, `${method} ${lxd.url}${path} not authorized`);
      assert.deepEqual(error.result.data, {
        type: 'error',
        status: '',
        status_code: 0,
        operation: '',
        error_code: 403,
        error: 'not authorized',
        metadata: null,
      });
    }
  });
});

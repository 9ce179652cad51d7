// API.remote() refuses a configuration that cannot work, with RemoteConfigError, before connecting anywhere.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { API, RemoteConfigError } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { folder, inTemp } from './helpers/cli-config.ts';

const T = { timeout: 15_000 };

async function thrown(work: () => unknown): Promise<RemoteConfigError> {
  const error = await Promise.resolve()
    .then(work)
    .then(
      () => assert.fail('no error'),
      (reason: unknown) => reason,
    );
  assert.ok(error instanceof RemoteConfigError, String(error));
  assert.equal(error.name, 'RemoteConfigError');
  return error;
}

describe('API.remote() refuses an unusable configuration before connecting', () => {
  const client = selfSigned('lxdapi-client', []);
  const yaml = (remote: string) => `remotes:\n  prod:\n${remote.replace(/^/gm, '    ')}\n`;

  test('an unknown remote: the message names the file and the remotes it has', T, () =>
    inTemp({}, async (dir) => {
      const configDir = folder(join(dir, 'c'), { 'config.yml': yaml('addr: https://p.invalid:8443') });
      const error = await thrown(() => API.remote('staging', { configDir }));
      assert.equal(error.code, 'ERR_LXD_REMOTE_UNKNOWN');
      assert.equal(error.file, join(configDir, 'config.yml'));
      const global = join(dir, 'empty-global', 'config.yml');
      const known = 'local, prod, ubuntu, ubuntu-daily';
      const message = `remote "staging" is not configured in ${error.file} nor in ${global}; it has: ${known}`;
      assert.equal(error.message, message);
      const none = await thrown(() => API.remote('prod', { configDir: join(dir, 'none') }));
      assert.match(
        none.message,
        /config\.yml \(which does not exist, so the defaults apply\) nor in .*; it has: images, local/,
      );
    }),
  );

  test('an image server (simplestreams, oci, public) is not an LXD API', T, () =>
    inTemp({}, async (dir) => {
      for (const [remote, kind] of [
        [
          'addr: https://images.linuxcontainers.org\nprotocol: simplestreams\npublic: true',
          'an image server (protocol simplestreams)',
        ],
        ['addr: https://docker.io\nprotocol: oci\npublic: true', 'an image server (protocol oci)'],
        // YAML 1.1, as the command lines read it: `yes` is true.
        ['addr: https://pub.invalid:8443\nprotocol: lxd\npublic: yes', 'a public image server'],
      ] as const) {
        const configDir = folder(join(dir, kind.replace(/\W/g, '')), { 'config.yml': yaml(remote) });
        const error = await thrown(() => API.remote('prod', { configDir }));
        assert.equal(error.code, 'ERR_LXD_REMOTE_NOT_API');
        assert.match(
          error.message,
          new RegExp(`^remote "prod" \\(https://[^)]+\\) is ${kind.replace(/[()]/g, '\\$&')}, not`),
        );
      }
      const error = await thrown(() => API.remote('ubuntu', { configDir: join(dir, 'none') }));
      assert.equal(error.code, 'ERR_LXD_REMOTE_NOT_API');
    }),
  );

  test('an OIDC remote is not supported, and the message says so', T, () =>
    inTemp({}, async (dir) => {
      const configDir = folder(join(dir, 'c'), { 'config.yml': yaml('addr: https://p.invalid:8443\nauth_type: oidc') });
      const error = await thrown(() => API.remote('prod', { configDir }));
      assert.equal(error.code, 'ERR_LXD_REMOTE_AUTH');
      assert.match(
        error.message,
        /^remote "prod" authenticates with OpenID Connect \(auth_type: oidc\), which lxdapi does not/,
      );
    }),
  );

  test('a missing, unreadable or broken certificate is named, and a key never printed', T, () =>
    inTemp({}, async (dir) => {
      const marker = 'NOT-A-KEY-BUT-SECRET-0123456789';
      const cases: Array<[string, Record<string, string>, string, RegExp]> = [
        [
          'missing',
          {},
          'ERR_LXD_REMOTE_CERT_MISSING',
          /needs a client certificate, and .*client\.crt and .*client\.key do not exist/,
        ],
        [
          'no key',
          { 'client.crt': client.cert },
          'ERR_LXD_REMOTE_CERT_MISSING',
          /, and .*\/client\.key does not exist/,
        ],
        [
          'cert not PEM',
          { 'client.crt': 'hello', 'client.key': client.key },
          'ERR_LXD_REMOTE_CERT_UNREADABLE',
          /client\.crt is not a PEM certificate$/,
        ],
        [
          'key not PEM',
          { 'client.crt': client.cert, 'client.key': marker },
          'ERR_LXD_REMOTE_CERT_UNREADABLE',
          /client\.key is not a PEM private key$/,
        ],
        [
          'key not the pair',
          { 'client.crt': client.cert, 'client.key': selfSigned('x', []).key },
          'ERR_LXD_REMOTE_CERT_UNREADABLE',
          /client\.key is not the private key of .*client\.crt$/,
        ],
        [
          'pin not PEM',
          { 'client.crt': client.cert, 'client.key': client.key, 'servercerts/prod.crt': marker },
          'ERR_LXD_REMOTE_CERT_UNREADABLE',
          /^the server certificate .*servercerts\/prod\.crt is not a PEM certificate$/,
        ],
      ];
      for (const [what, files, code, message] of cases) {
        const configDir = folder(join(dir, what.replace(/\W/g, '')), {
          'config.yml': yaml('addr: https://p.invalid:8443'),
          ...files,
        });
        const error = await thrown(() => API.remote('prod', { configDir }));
        assert.equal(error.code, code, what);
        assert.match(error.message, message, what);
        assert.ok(error.file?.startsWith(configDir), what);
        assert.ok(!error.message.includes(marker) && !String(error.cause).includes(marker), what);
        assert.ok(!error.message.includes('PRIVATE KEY'), what);
      }
      // A folder where the certificate should be: it exists, and cannot be read.
      const configDir = folder(join(dir, 'dir'), {
        'config.yml': yaml('addr: https://p.invalid:8443'),
        'client.key': client.key,
      });
      mkdirSync(join(configDir, 'client.crt'));
      const error = await thrown(() => API.remote('prod', { configDir }));
      assert.equal(error.code, 'ERR_LXD_REMOTE_CERT_UNREADABLE');
      assert.equal(error.message, `the client certificate ${join(configDir, 'client.crt')} cannot be read (EISDIR)`);
    }),
  );

  test('config.yml that is not YAML, or not of the expected shape', T, () =>
    inTemp({}, async (dir) => {
      for (const [text, message] of [
        ['remotes: [unclosed', /config\.yml is not valid YAML: .*line 1/],
        ['- a list', /config\.yml: the document is not a mapping$/],
        ['remotes: 5', /config\.yml: remotes must be a mapping of names to remotes$/],
        ['remotes:\n  prod: x', /config\.yml: remotes\.prod must be a mapping/],
        ['remotes:\n  prod:\n    addr: 5', /config\.yml: remotes\.prod\.addr must be a string, not number$/],
        ['default-remote: [a]', /config\.yml: default-remote must be a remote's name$/],
        [
          'remotes:\n  prod:\n    addr: http://p.invalid',
          /remote "prod" has addr "http:\/\/p\.invalid", which is neither https:\/\/ nor unix:\/\/$/,
        ],
      ] as const) {
        const configDir = folder(join(dir, String(Math.random()).slice(2)), { 'config.yml': text });
        const error = await thrown(() => API.remote('prod', { configDir }));
        assert.equal(error.code, 'ERR_LXD_REMOTE_CONFIG', text);
        assert.match(error.message, message, text);
        assert.equal(error.file, join(configDir, 'config.yml'));
      }
      assert.throws(() => API.remote('', { configDir: dir }), TypeError);
      assert.throws(() => API.remote(undefined, { configDir: '' }), TypeError);
    }),
  );

  test('nothing is connected to when the configuration is refused', T, async () => {
    let connections = 0;
    const listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as AddressInfo;
    try {
      await inTemp({}, async (dir) => {
        const configDir = folder(join(dir, 'c'), { 'config.yml': yaml(`addr: https://127.0.0.1:${port}`) });
        const error = await thrown(() => API.remote('prod', { configDir }));
        assert.equal(error.code, 'ERR_LXD_REMOTE_CERT_MISSING');
        assert.equal(connections, 0);
      });
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });
});

// API.remote() and readCliConfig(): config folders written by the tests, real HTTPS and unix servers, and every
// way a configuration can be unusable. Each test runs with the command lines' variables cleared and the
// system-wide folders pointed at empty temp folders, so the machine's own configuration never leaks in.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { API, APIConnectionError, RemoteConfigError, readCliConfig } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { runTsx } from './helpers/child.ts';
import { withEnv } from './helpers/env.ts';
import { httpsServer, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

const CLEARED = ['LXD_CONF', 'INCUS_CONF', 'LXC_REMOTE', 'INCUS_REMOTE', 'INCUS_PROJECT', 'LXD_SOCKET', 'INCUS_SOCKET'];
const T = { timeout: 15_000 };

/** A temp folder for the test, removed afterwards; `run` gets it with the variables isolated. */
async function inTemp<R>(vars: Record<string, string | undefined>, run: (dir: string) => Promise<R> | R): Promise<R> {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-remote-'));
  const empty = join(dir, 'empty-global');
  mkdirSync(empty);
  const isolated = Object.fromEntries(CLEARED.map((name) => [name, undefined]));
  try {
    return await withEnv({ ...isolated, LXD_GLOBAL_CONF: empty, INCUS_GLOBAL_CONF: empty, ...vars }, () => run(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a config folder: config.yml and any other files, by relative path. */
function folder(dir: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

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

describe('API.remote()', () => {
  const serverPair = selfSigned('lxd-test', ['IP:127.0.0.1']);
  const client = selfSigned('lxdapi-client', []);
  const other = selfSigned('other-client', []);
  let server: TestServer;
  before(async () => {
    server = await httpsServer(
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        reply(res, 200, sync({ auth: 'trusted', client: peer?.subject?.CN ?? null }));
      },
      { ...serverPair, requestCert: true, rejectUnauthorized: false },
    );
  });
  after(() => server.close());

  const lxcFolder = (dir: string, yaml: string, extra: Record<string, string> = {}) =>
    folder(join(dir, 'lxc'), {
      'config.yml': yaml,
      'client.crt': client.cert,
      'client.key': client.key,
      'servercerts/prod.crt': serverPair.cert,
      ...extra,
    });

  test('a configured HTTPS remote: its address, the pin, the client certificate and the project', T, () =>
    inTemp({}, async (dir) => {
      const yaml = lines(
        'default-remote: prod',
        'remotes:',
        '  prod:',
        `    addr: ${server.url}`,
        '    protocol: lxd',
        '    project: staging',
      );
      const api = API.remote(undefined, { configDir: lxcFolder(dir, yaml) });
      try {
        assert.equal(api.endpoint, server.url);
        assert.equal(api.project, 'staging');
        const result = await api.get<{ client: string }>('instances');
        assert.equal(result.metadata.client, 'lxdapi-client');
        assert.equal(server.seen.at(-1)?.url, '/1.0/instances?project=staging');
      } finally {
        await api.close();
      }
    }),
  );

  test('project default is not sent; the options win over the configuration', T, () =>
    inTemp({}, async (dir) => {
      const yaml = `remotes:\n  prod:\n    addr: ${server.url}/\n    project: default\n`;
      const configDir = lxcFolder(dir, yaml, { 'other.crt': other.cert, 'other.key': other.key });
      const plain = API.remote('prod', { configDir });
      const mine = API.remote('prod', { configDir, project: 'mine', cert: other.cert, key: other.key, timeout: 5000 });
      try {
        assert.equal(plain.project, undefined);
        assert.equal(plain.endpoint, server.url);
        await plain.get('instances');
        assert.equal(server.seen.at(-1)?.url, '/1.0/instances');
        assert.equal(mine.project, 'mine');
        assert.equal(mine.timeout, 5000);
        assert.equal((await mine.get<{ client: string }>('')).metadata.client, 'other-client');
      } finally {
        await plain.close();
        await mine.close();
      }
    }),
  );

  test('the name: the argument, else $LXC_REMOTE, else default-remote, else local', T, () =>
    inTemp({}, async (dir) => {
      const remotes = `remotes:\n  a:\n    addr: https://a.invalid:8443\n  b:\n    addr: https://b.invalid:8443\n`;
      const withDefault = folder(join(dir, 'one'), { 'config.yml': `default-remote: a\n${remotes}` });
      const without = folder(join(dir, 'two'), { 'config.yml': remotes });
      assert.equal(readCliConfig({ configDir: withDefault }).defaultRemote, 'a');
      assert.equal(readCliConfig({ configDir: without }).defaultRemote, 'local');
      await withEnv({ LXC_REMOTE: 'b', LXD_CONF: withDefault }, () => {
        assert.equal(readCliConfig().defaultRemote, 'b');
        assert.equal(readCliConfig().dir, withDefault);
        // $INCUS_REMOTE is incus's, not lxc's.
        return withEnv({ LXC_REMOTE: undefined, INCUS_REMOTE: 'b' }, () => {
          assert.equal(readCliConfig().defaultRemote, 'a');
        });
      });
    }),
  );

  test('incus: $INCUS_CONF, $INCUS_REMOTE, $INCUS_PROJECT and the per-remote clientcerts/<remote>.crt|key', T, () =>
    inTemp({}, async (dir) => {
      const configDir = folder(join(dir, 'incus'), {
        'config.yml': `default-remote: local\nremotes:\n  prod:\n    addr: ${server.url}\n    protocol: incus\n`,
        'client.crt': client.cert,
        'client.key': client.key,
        'clientcerts/prod.crt': other.cert,
        'clientcerts/prod.key': other.key,
        'servercerts/prod.crt': serverPair.cert,
      });
      await withEnv({ INCUS_CONF: configDir, INCUS_REMOTE: 'prod', INCUS_PROJECT: 'p1' }, async () => {
        assert.equal(readCliConfig().cli, 'incus');
        const api = API.remote();
        try {
          assert.equal(api.project, 'p1');
          assert.equal((await api.get<{ client: string }>('')).metadata.client, 'other-client');
        } finally {
          await api.close();
        }
      });
      // The same folder as lxc's: no clientcerts/, no $INCUS_PROJECT.
      const api = API.remote('prod', { configDir, cli: 'lxc' });
      try {
        assert.equal(api.project, undefined);
        assert.equal((await api.get<{ client: string }>('')).metadata.client, 'lxdapi-client');
      } finally {
        await api.close();
      }
    }),
  );

  test("the folder: ~/.config/lxc, else the snap's ~/snap/lxd/common/config, else ~/.config/incus", T, () =>
    inTemp({}, async (home) => {
      await withEnv({ HOME: home }, async () => {
        assert.deepEqual(pick(readCliConfig()), { dir: join(home, '.config', 'lxc'), cli: 'lxc' });
        mkdirSync(join(home, '.config', 'incus'), { recursive: true });
        assert.deepEqual(pick(readCliConfig()), { dir: join(home, '.config', 'incus'), cli: 'incus' });
        mkdirSync(join(home, 'snap', 'lxd', 'common', 'config'), { recursive: true });
        assert.deepEqual(pick(readCliConfig()), { dir: join(home, 'snap', 'lxd', 'common', 'config'), cli: 'lxc' });
        const snapGlobal = withEnv({ LXD_GLOBAL_CONF: undefined }, () => readCliConfig().globalDir);
        assert.equal(await snapGlobal, '/var/snap/lxd/common/global-conf', "the snap's system-wide folder");
        mkdirSync(join(home, '.config', 'lxc'));
        assert.deepEqual(pick(readCliConfig()), { dir: join(home, '.config', 'lxc'), cli: 'lxc' });
        // $INCUS_CONF wins over every folder, $LXD_CONF over $INCUS_CONF.
        return withEnv({ INCUS_CONF: join(home, 'i') }, () => {
          assert.deepEqual(pick(readCliConfig()), { dir: join(home, 'i'), cli: 'incus' });
          return withEnv({ LXD_CONF: join(home, 'l') }, () => {
            assert.deepEqual(pick(readCliConfig()), { dir: join(home, 'l'), cli: 'lxc' });
          });
        });
      });
    }),
  );

  test('without config.yml the defaults apply; a configDir with an incus remote follows incus', T, () =>
    inTemp({}, (dir) => {
      const none = readCliConfig({ configDir: join(dir, 'nothing') });
      assert.equal(none.cli, 'lxc');
      assert.deepEqual(Object.keys(none.remotes).sort(), ['images', 'local', 'ubuntu', 'ubuntu-daily']);
      assert.deepEqual(none.remotes.local, { addr: 'unix://', public: false });
      const configDir = folder(join(dir, 'x'), {
        'config.yml': 'remotes:\n  local:\n    addr: unix://\n    protocol: incus\n    project: dev\n',
      });
      const incus = readCliConfig({ configDir });
      assert.equal(incus.cli, 'incus');
      assert.deepEqual(Object.keys(incus.remotes), ['local']);
      assert.deepEqual(incus.remotes.local, { addr: 'unix://', public: false, protocol: 'incus', project: 'dev' });
      assert.equal(incus.globalDir, join(dir, 'empty-global'));
    }),
  );

  test("the system-wide remotes are merged: the user's own win, a global one's pin is in the global folder", T, () =>
    inTemp({}, async (dir) => {
      const globalDir = folder(join(dir, 'etc-lxd'), {
        'config.yml': lines(
          'remotes:',
          '  corp:',
          `    addr: ${server.url}`,
          '    project: ops',
          '  prod:',
          '    addr: https://stale.invalid',
        ),
        'servercerts/corp.crt': serverPair.cert,
      });
      const configDir = lxcFolder(dir, `remotes:\n  prod:\n    addr: ${server.url}\n`);
      await withEnv({ LXD_GLOBAL_CONF: globalDir }, async () => {
        const config = readCliConfig({ configDir });
        assert.equal(config.remotes.prod?.addr, server.url);
        assert.equal(config.remotes.prod?.global, undefined);
        assert.deepEqual(config.remotes.corp, { addr: server.url, project: 'ops', auth_type: 'tls', global: true });
        const api = API.remote('corp', { configDir });
        try {
          assert.equal(api.project, 'ops');
          assert.equal((await api.get<{ client: string }>('')).metadata.client, 'lxdapi-client');
        } finally {
          await api.close();
        }
      });
    }),
  );

  test('unix:// is the local socket, unix:///path that socket', T, async () => {
    const local = await unixServer((_req, res) => reply(res, 200, sync({ auth: 'trusted' })));
    try {
      await inTemp({ LXD_SOCKET: local.socketPath, INCUS_SOCKET: local.socketPath }, async (dir) => {
        const yaml = lines(
          'remotes:',
          '  local:',
          '    addr: https://ignored.invalid',
          '    project: p2',
          '  sock:',
          `    addr: unix://${local.socketPath}`,
        );
        const configDir = folder(join(dir, 'c'), { 'config.yml': yaml });
        for (const [name, cli] of [
          ['local', 'lxc'],
          ['local', 'incus'],
          ['sock', 'lxc'],
        ] as const) {
          const api = API.remote(name, { configDir, cli });
          try {
            assert.equal(api.socketPath, local.socketPath, `${name} (${cli})`);
            assert.equal(api.project, name === 'local' ? 'p2' : undefined, 'local keeps its configured project');
            await api.get('');
          } finally {
            await api.close();
          }
        }
      });
    } finally {
      await local.close();
    }
    await inTemp({ INCUS_DIR: '/nonexistent-incus' }, (dir) => {
      assert.throws(
        () => API.remote('local', { configDir: dir, cli: 'incus' }),
        (error: unknown) => {
          assert.ok(error instanceof APIConnectionError);
          assert.equal(error.code, 'ENOENT');
          assert.match(error.message, /^No Incus socket found; tried \/nonexistent-incus\/unix\.socket, \/run\/incus/);
          return true;
        },
      );
    });
  });

  test('a wrong pin fails the connection as any wrong serverCert does', T, () =>
    inTemp({}, async (dir) => {
      const configDir = lxcFolder(dir, `remotes:\n  prod:\n    addr: ${server.url}\n`, {
        'servercerts/prod.crt': other.cert,
      });
      const api = API.remote('prod', { configDir });
      try {
        await assert.rejects(api.get(''), (error: unknown) => {
          assert.ok(error instanceof APIConnectionError);
          assert.match(error.hint, /^the server's certificate is not the pinned serverCert/);
          return true;
        });
      } finally {
        await api.close();
      }
    }),
  );
});

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

test('yaml is loaded by the first configuration read, not when the library is imported', T, async () => {
  const { code, output } = await runTsx([join(import.meta.dirname, 'fixtures', 'yaml-lazy.ts')], 10_000);
  assert.equal(output, 'after import: false\nafter readCliConfig: true\n');
  assert.equal(code, 0);
});

/** YAML lines. */
function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}

function pick(config: { dir: string; cli: string }) {
  return { dir: config.dir, cli: config.cli };
}

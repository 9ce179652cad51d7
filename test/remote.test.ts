// API.remote() and readCliConfig(): config folders written by the tests, real HTTPS and unix servers. Each test
// runs with the command lines' variables cleared and the system-wide folders empty (see helpers/cli-config.ts).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { API, APIConnectionError, readCliConfig } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { runTsx } from './helpers/child.ts';
import { folder, inTemp, lines } from './helpers/cli-config.ts';
import { withEnv } from './helpers/env.ts';
import { httpsServer, reply, sync, type TestServer, unixServer } from './helpers/server.ts';

const T = { timeout: 15_000 };

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

test('yaml is loaded by the first configuration read, not when the library is imported', T, async () => {
  const { code, output } = await runTsx([join(import.meta.dirname, 'fixtures', 'yaml-lazy.ts')], 10_000);
  assert.equal(output, 'after import: false\nafter readCliConfig: true\n');
  assert.equal(code, 0);
});

function pick(config: { dir: string; cli: string }) {
  return { dir: config.dir, cli: config.cli };
}

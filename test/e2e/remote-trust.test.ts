// End to end: API.remote() from config folders written here, and API.join() with tokens the command lines mint,
// against the real LXD (LXD_TEST_*) and, when one is up, the real Incus:
//   INCUS_TEST_SOCKET  its unix socket (the trusted side: arranging, checking, cleaning up)
//   INCUS_TEST_URL     https://127.0.0.1:<port>, its core.https_address
//   INCUS_TEST_DIR     its INCUS_DIR, for `incus config trust add` (tokens) and `incus config set`
//   INCUS_TEST_SERVER_CERT  its certificate (default: $INCUS_TEST_DIR/server.crt)
// The command lines only mint tokens and set the token expiry; every assertion goes through the library.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  API,
  APIConnectionError,
  APIException,
  APINotFoundException,
  decodeTrustToken,
  type Server,
} from '../../src/index.ts';
import { type Pair, selfSigned } from '../helpers/certs.ts';
import { runTsx } from '../helpers/child.ts';
import { withEnv } from '../helpers/env.ts';
import { sleep } from '../helpers/lxd.ts';
import { tokenFingerprint } from '../helpers/token.ts';
import { lxd, skip, uniqueName } from './helpers.ts';
import { checked } from './schema-check.ts';

interface Target {
  kind: 'lxd' | 'incus';
  socket: string;
  url: string;
  serverCert: string;
  /** Runs the target's command line on its daemon, with a client config folder of its own. */
  cli(args: string[]): string;
  /** `lxc config trust add --name <n>` / `incus config trust add <n>`: the token it prints. */
  mint(name: string): string;
  /** Removes the command line's config folder. */
  done(): void;
}

function target(kind: Target['kind'], socket: string, url: string, dir: string, serverCert: string): Target {
  const conf = mkdtempSync(join(tmpdir(), `lxdapi-e2e-${kind}-conf-`));
  const command = kind === 'lxd' ? 'lxc' : 'incus';
  const env = kind === 'lxd' ? { LXD_DIR: dir, LXD_CONF: conf } : { INCUS_DIR: dir, INCUS_CONF: conf };
  const cli = (args: string[]) =>
    execFileSync(command, args, {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const mint = (name: string) => {
    const printed = cli(kind === 'lxd' ? ['config', 'trust', 'add', '--name', name] : ['config', 'trust', 'add', name]);
    return printed.trim().split('\n').at(-1) as string;
  };
  return { kind, socket, url, serverCert, cli, mint, done: () => rmSync(conf, { recursive: true, force: true }) };
}

const targets: Array<{ name: string; skip: { skip?: string }; get: () => Target }> = [
  {
    name: 'LXD',
    skip,
    get: () => target('lxd', lxd.socket, lxd.url, lxd.dir, lxd.serverCert),
  },
  {
    name: 'Incus',
    skip: ['INCUS_TEST_SOCKET', 'INCUS_TEST_URL', 'INCUS_TEST_DIR'].every((name) => process.env[name])
      ? {}
      : { skip: 'no Incus: INCUS_TEST_SOCKET, INCUS_TEST_URL and INCUS_TEST_DIR are not all set' },
    get: () => {
      const { INCUS_TEST_SOCKET, INCUS_TEST_URL, INCUS_TEST_DIR, INCUS_TEST_SERVER_CERT } = process.env;
      const dir = INCUS_TEST_DIR as string;
      return target(
        'incus',
        INCUS_TEST_SOCKET as string,
        INCUS_TEST_URL as string,
        dir,
        INCUS_TEST_SERVER_CERT || join(dir, 'server.crt'),
      );
    },
  },
];

const T = { timeout: 60_000 };

for (const { name, skip: skipped, get } of targets) {
  describe(`remotes and trust tokens on ${name}`, skipped, () => {
    let server: Target;
    let admin: API;
    let serverPem: string;
    let root: string;
    let project: string;
    const trustedPair = selfSigned('lxdapi-e2e-remote', []);
    const untrustedPair = selfSigned('lxdapi-e2e-untrusted', []);
    const certificates = new Set<string>();
    const tokens = new Set<string>();
    const opened: API[] = [];
    const open = (api: API) => {
      opened.push(api);
      return server.kind === 'lxd' ? checked(api) : api;
    };

    before(async () => {
      server = get();
      admin = API.factory(server.socket);
      serverPem = readFileSync(server.serverCert, 'utf8');
      root = mkdtempSync(join(tmpdir(), 'lxdapi-e2e-remote-'));
      project = uniqueName('e2e-remote');
      await admin.post('projects', { json: { name: project, config: { 'features.images': 'false' } } });
      // The certificate the config folders use, trusted through the unix socket (as root).
      const certificate = new X509Certificate(trustedPair.cert).raw.toString('base64');
      await admin.post('certificates', { json: { type: 'client', name: uniqueName('e2e-remote'), certificate } });
      certificates.add(tokenFingerprint(trustedPair.cert));
    });

    after(async () => {
      for (const api of opened) await api.close();
      // before() may have stopped anywhere: clean up what it got to.
      if ((server as Target | undefined) === undefined) return;
      const trusted = admin as API | undefined;
      try {
        for (const token of tokens) {
          try {
            server.cli(['config', 'trust', 'revoke-token', token]);
          } catch {
            // Used, or expired: gone already.
          }
        }
        if (trusted !== undefined) {
          for (const fingerprint of certificates) await trusted.delete(`certificates/${fingerprint}`).catch(notFound);
          await trusted.delete(`projects/${project}`).catch(notFound);
        }
      } finally {
        await trusted?.close();
        if ((root as string | undefined) !== undefined) rmSync(root, { recursive: true, force: true });
        server.done();
      }
    });

    /** A config folder of the target's command line, with `files` beside config.yml. */
    const configFolder = (yaml: string, files: Record<string, string> = {}) => {
      const dir = mkdtempSync(join(root, 'conf-'));
      const all = { 'config.yml': yaml, 'client.crt': trustedPair.cert, 'client.key': trustedPair.key, ...files };
      for (const [path, text] of Object.entries(all)) {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      return dir;
    };
    const remoteYaml = (remotes: Record<string, Record<string, string>>, defaultRemote?: string) =>
      [
        ...(defaultRemote ? [`default-remote: ${defaultRemote}`] : []),
        'remotes:',
        ...Object.entries(remotes).flatMap(([remote, fields]) => [
          `  ${remote}:`,
          ...Object.entries({ protocol: server.kind, auth_type: 'tls', ...fields }).map(([k, v]) => `    ${k}: ${v}`),
        ]),
        '',
      ].join('\n');
    const mintToken = (prefix: string) => {
      const clientName = uniqueName(prefix);
      tokens.add(clientName);
      return { clientName, token: server.mint(clientName) };
    };
    const isTrusted = async (pair: Pair) => {
      const fingerprint = tokenFingerprint(pair.cert);
      return admin.get(`certificates/${fingerprint}`).then(
        () => true,
        (error: unknown) => (error instanceof APINotFoundException ? false : Promise.reject(error)),
      );
    };

    test('the default remote of a config folder: its address, the saved pin, the client certificate', T, async () => {
      const configDir = configFolder(remoteYaml({ sandbox: { addr: server.url } }, 'sandbox'), {
        'servercerts/sandbox.crt': serverPem,
      });
      const api = open(API.remote(undefined, { configDir }));
      assert.equal(api.endpoint, server.url);
      assert.equal(api.project, undefined);
      const info = await api.get<Server>('');
      assert.equal(info.metadata.auth, 'trusted');
      assert.equal(info.metadata.environment.server, server.kind);
    });

    test('a named remote with a project, and the same through the environment variables', T, async () => {
      const yaml = remoteYaml({ sandbox: { addr: server.url }, work: { addr: server.url, project } }, 'sandbox');
      const configDir = configFolder(yaml, { 'servercerts/work.crt': serverPem, 'servercerts/sandbox.crt': serverPem });
      const named = open(API.remote('work', { configDir }));
      assert.equal(named.project, project);
      const instances = await named.get('instances');
      assert.deepEqual(instances.metadata, []);
      assert.equal(instances.request.url, `${server.url}/1.0/instances?project=${project}`);

      const vars =
        server.kind === 'lxd'
          ? { LXD_CONF: configDir, LXC_REMOTE: 'work', INCUS_CONF: undefined }
          : { INCUS_CONF: configDir, INCUS_REMOTE: 'work', LXD_CONF: undefined };
      await withEnv(vars, async () => {
        const api = open(API.remote());
        assert.equal(api.project, project);
        assert.deepEqual((await api.get('instances')).metadata, []);
      });
    });

    test('a unix:// remote is the local socket', T, async () => {
      const configDir = configFolder(remoteYaml({ here: { addr: `unix://${server.socket}` } }, 'here'));
      const api = open(API.remote(undefined, { configDir }));
      assert.equal(api.socketPath, server.socket);
      assert.equal((await api.get<Server>('')).metadata.auth, 'trusted');
    });

    test('an untrusted client certificate, and a wrong pin', T, async () => {
      const yaml = remoteYaml({ sandbox: { addr: server.url } }, 'sandbox');
      const untrusted = configFolder(yaml, {
        'client.crt': untrustedPair.cert,
        'client.key': untrustedPair.key,
        'servercerts/sandbox.crt': serverPem,
      });
      // Not schema-checked: the untrusted see a GET /1.0 without config and environment, as documented.
      const api = API.remote(undefined, { configDir: untrusted });
      opened.push(api);
      const info = await api.get<Server>('');
      assert.equal(info.metadata.auth, 'untrusted');
      assert.equal(info.metadata.environment, undefined, 'no environment for the untrusted');
      await assert.rejects(api.get('instances'), (error: unknown) => {
        assert.ok(error instanceof APIException);
        assert.equal(error.status, 403);
        return true;
      });

      const wrongPin = configFolder(yaml, { 'servercerts/sandbox.crt': untrustedPair.cert });
      const pinned = API.remote(undefined, { configDir: wrongPin });
      opened.push(pinned);
      await assert.rejects(pinned.get(''), (error: unknown) => {
        assert.ok(error instanceof APIConnectionError);
        assert.equal(error.endpoint, server.url);
        assert.match(error.hint, /^the server's certificate is not the pinned serverCert/);
        return true;
      });
    });

    test('join with a fresh certificate, then use it', T, async () => {
      const fresh = selfSigned('lxdapi-e2e-join', []);
      const { clientName, token } = mintToken('e2e-join');
      certificates.add(tokenFingerprint(fresh.cert));
      const joined = await API.join(token, { ...fresh, project });
      opened.push(joined);
      assert.ok(new X509Certificate(joined.serverCertificate).raw.equals(new X509Certificate(serverPem).raw));
      assert.equal(joined.endpoint, server.url);
      const info = await joined.get<Server>('');
      assert.equal(info.metadata.auth, 'trusted');
      assert.deepEqual((await joined.get('instances')).metadata, []);
      // The server named the certificate after the token.
      const added = await admin.get<{ name: string }>(`certificates/${tokenFingerprint(fresh.cert)}`);
      assert.equal(added.metadata.name, clientName);
      // The saved certificate pins a plain factory() from now on.
      const again = open(API.factory(server.url, { ...fresh, serverCert: joined.serverCertificate }));
      assert.equal((await again.get<Server>('')).metadata.auth, 'trusted');
    });

    test(
      'a forged token (right address, wrong fingerprint) is refused; nothing is trusted; the real one works',
      T,
      async () => {
        const fresh = selfSigned('lxdapi-e2e-forged', []);
        const { token } = mintToken('e2e-forged');
        certificates.add(tokenFingerprint(fresh.cert));
        const fields = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
        const forged = Buffer.from(JSON.stringify({ ...fields, fingerprint: tokenFingerprint(untrustedPair.cert) }));
        const error = await API.join(forged.toString('base64'), fresh).catch((e: unknown) => e);
        assert.ok(error instanceof APIConnectionError, String(error));
        assert.equal(error.code, 'ERR_LXD_CERT_PIN_MISMATCH');
        assert.ok(!error.message.includes(fields.secret as string));
        assert.equal(await isTrusted(fresh), false);

        const joined = await API.join(token, fresh);
        opened.push(joined);
        assert.equal((await joined.get<Server>('')).metadata.auth, 'trusted');
        assert.equal(await isTrusted(fresh), true);
      },
    );

    test('examples/remote-and-trust.ts lists a configured remote and joins with a token', T, async () => {
      const example = join(import.meta.dirname, '..', '..', 'examples', 'remote-and-trust.ts');
      const configDir = configFolder(remoteYaml({ work: { addr: server.url, project } }, 'work'), {
        'servercerts/work.crt': serverPem,
      });
      const vars = server.kind === 'lxd' ? { LXD_CONF: configDir, LXC_REMOTE: undefined } : { INCUS_CONF: configDir };
      const listed = await withEnv({ LXD_CONF: undefined, INCUS_CONF: undefined, ...vars }, () =>
        runTsx([example, 'list'], 30_000),
      );
      assert.equal(listed.output, `${server.url} project ${project}: 0 instance(s)\n`);
      assert.equal(listed.code, 0);

      const fresh = selfSigned('lxdapi-e2e-example', []);
      const { clientName, token } = mintToken('e2e-example');
      certificates.add(tokenFingerprint(fresh.cert));
      const dir = mkdtempSync(join(root, 'example-'));
      writeFileSync(join(dir, 'client.crt'), fresh.cert);
      writeFileSync(join(dir, 'client.key'), fresh.key);
      const files = ['client.crt', 'client.key', 'server.crt'].map((file) => join(dir, file));
      const joined = await runTsx([example, 'join', token, ...files], 30_000);
      const version = (await admin.get<Server>('')).metadata.environment.server_version;
      const address = new URL(server.url).host;
      const expected = `joining as ${clientName} through ${address}\n${server.url}: trusted, ${server.kind} ${version}\n`;
      assert.equal(joined.output, expected);
      assert.equal(joined.code, 0);
      assert.ok(new X509Certificate(readFileSync(files[2] as string)).raw.equals(new X509Certificate(serverPem).raw));

      // The same token for another certificate: used, so the server refuses it, in one line.
      const other = selfSigned('lxdapi-e2e-example-2', []);
      writeFileSync(join(dir, 'client.crt'), other.cert);
      writeFileSync(join(dir, 'client.key'), other.key);
      const again = await runTsx([example, 'join', token, ...files], 30_000);
      assert.equal(again.code, 1);
      assert.match(again.output, /^joining as .*\nAPIException ERR_LXD_API: POST https:\/\/\S+\/1\.0\/certificates /);
      assert.match(again.output, / No matching certificate add operation found\n$/);
      assert.ok(!again.output.includes(token));
      assert.equal(await isTrusted(other), false);
    });

    test('an expired token and a malformed one are TypeErrors; nothing is trusted', T, async () => {
      const fresh = selfSigned('lxdapi-e2e-expired', []);
      let minted: { token: string };
      server.cli(['config', 'set', 'core.remote_token_expiry', '1S']);
      try {
        minted = mintToken('e2e-expired');
      } finally {
        server.cli(['config', 'unset', 'core.remote_token_expiry']);
      }
      const expiresAt = Date.parse(decodeTrustToken(minted.token).expires_at as string);
      await sleep(Math.max(0, expiresAt - Date.now()) + 100);
      await assert.rejects(API.join(minted.token, fresh), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^the trust token expired at \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ s ago\)/);
        return true;
      });
      const { token } = mintToken('e2e-malformed');
      for (const bad of [token.slice(0, -5), `x${token}`, 'hello']) {
        await assert.rejects(API.join(bad, fresh), TypeError);
      }
      assert.equal(await isTrusted(fresh), false);
    });
  });
}

function notFound(error: unknown): void {
  if (!(error instanceof APINotFoundException)) throw error;
}

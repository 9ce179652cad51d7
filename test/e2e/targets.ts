// The server the remote and trust e2e suites run against: this pass's (LXD_TEST_*; npm test's Incus pass maps
// INCUS_TEST_* onto them and sets LXD_TEST_SERVER=incus), with its command line (`lxc` or `incus`) to mint tokens
// and set the token expiry; the suites assert through the library only.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { API, APINotFoundException } from '../../src/index.ts';
import { type Pair, selfSigned } from '../helpers/certs.ts';
import { tokenFingerprint } from '../helpers/token.ts';
import { lxd, server, serverName, skip, uniqueName } from './helpers.ts';
import { checked } from './schema-check.ts';

export interface Target {
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

export const targets: Array<{ name: string; skip: { skip?: string }; get: () => Target }> = [
  { name: serverName, skip, get: () => target(server, lxd.socket, lxd.url, lxd.dir, lxd.serverCert) },
];

/**
 * Registers the suite's before() and after() for the target `get` returns: a project, a client certificate
 * trusted through the unix socket, a folder for config folders. after() removes them, the certificates and tokens
 * the suite recorded, and closes the APIs it opened. The returned object's fields are set once before() ran.
 */
export function useTarget(get: () => Target) {
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

  return {
    get server() {
      return server;
    },
    get admin() {
      return admin;
    },
    get serverPem() {
      return serverPem;
    },
    get root() {
      return root;
    },
    get project() {
      return project;
    },
    untrustedPair,
    certificates,
    opened,
    open,
    configFolder,
    remoteYaml,
    mintToken,
    isTrusted,
  };
}

function notFound(error: unknown): void {
  if (!(error instanceof APINotFoundException)) throw error;
}

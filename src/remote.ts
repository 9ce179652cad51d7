// API.remote(): a client of a remote that `lxc remote add` or `incus remote add` configured, built from the
// command line's own files. Everything is read and checked before the client is built; nothing is sent here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CliConfig,
  type CliConfigOptions,
  type CliRemote,
  clientCertificateFiles,
  readCliConfig,
} from './cli-config.ts';
import { loadCertificate, loadClientPair } from './client-cert.ts';
import { APIConnectionError, RemoteConfigError } from './errors.ts';

/** Options of `API.remote()`, besides those of `API.factory()` (which win over what the configuration says). */
export interface RemoteOptions extends CliConfigOptions {}

/** What `API.remote()` hands to `API.factory()`. */
export interface RemoteSettings {
  /** `https://host:port`, a socket path, or undefined for the local daemon's socket, found as `factory()` does */
  endpoint: string | undefined;
  cert?: Buffer;
  key?: Buffer;
  serverCert?: Buffer;
  ca?: Buffer;
  project?: string;
}

/** The fields `API.remote()` fills in; a caller's own win. */
interface TlsFields {
  cert?: string | Buffer;
  key?: string | Buffer;
  serverCert?: string | Buffer;
  ca?: string | Buffer | Array<string | Buffer>;
  project?: string;
}

/** Builds a client of the remote `name` (default: the configured default remote) with `factory`. */
export function connectRemote<T, O extends TlsFields>(
  factory: (endpoint: string | undefined, options: O) => T,
  name: string | undefined,
  options: RemoteOptions & O = {} as RemoteOptions & O,
): T {
  const { configDir: _dir, cli: _cli, ...rest } = options;
  // remoteSettings() reads only what the caller did not give: their cert and key replace the folder's as a pair.
  const { endpoint, ...fromConfig } = remoteSettings(name, options);
  const given = Object.entries(rest).filter(([, value]) => value !== undefined);
  return factory(endpoint, { ...fromConfig, ...Object.fromEntries(given) } as O);
}

/** The endpoint, certificates and project of a configured remote, checked; throws RemoteConfigError. */
export function remoteSettings(name: string | undefined, options: RemoteOptions & TlsFields = {}): RemoteSettings {
  if (name !== undefined && (typeof name !== 'string' || name === '')) {
    throw new TypeError(`the remote name must be a non-empty string, got ${name === '' ? "''" : typeof name}`);
  }
  const config = readCliConfig(options);
  const chosen = name ?? config.defaultRemote;
  const remote = config.remotes[chosen];
  const label = `remote "${chosen}"`;
  if (remote === undefined) {
    const known = Object.keys(config.remotes).sort().join(', ');
    const where = existsSync(config.file)
      ? config.file
      : `${config.file} (which does not exist, so the defaults apply)`;
    const global = join(config.globalDir, 'config.yml');
    const message = `${label} is not configured in ${where} nor in ${global}; it has: ${known}`;
    throw new RemoteConfigError(message, 'ERR_LXD_REMOTE_UNKNOWN', { file: config.file });
  }
  checkKind(label, remote, config);
  const project = projectOf(remote, config);
  const settings: RemoteSettings = { endpoint: undefined };
  if (project !== undefined) settings.project = project;

  if (remote.addr.startsWith('unix:')) {
    const path = remote.addr.replace(/^unix:(\/\/)?/, '');
    settings.endpoint = path === '' ? localSocket(config.cli) : path;
    return settings;
  }
  let url: URL;
  try {
    url = new URL(remote.addr);
  } catch (error) {
    throw invalidAddr(label, remote, config, error);
  }
  if (url.protocol !== 'https:') throw invalidAddr(label, remote, config);
  settings.endpoint = remote.addr.replace(/\/+$/, '');

  // What `lxc remote add` saved: the pin. Without one, the server's certificate must be signed by a known CA.
  const files = clientCertificateFiles(config, chosen);
  if (options.serverCert === undefined && options.ca === undefined) {
    const pinDir = remote.global ? config.globalDir : config.dir;
    const pin = loadCertificate(join(pinDir, 'servercerts', `${chosen}.crt`), 'the server certificate', true);
    const ca = loadCertificate(files.ca, 'the CA certificate', true);
    if (pin) settings.serverCert = pin;
    if (ca) settings.ca = ca;
  }
  if (options.cert === undefined && options.key === undefined) {
    const pair = loadClientPair(files, label);
    settings.cert = pair.cert;
    settings.key = pair.key;
  }
  return settings;
}

function checkKind(label: string, remote: CliRemote, config: CliConfig): void {
  const protocol = remote.protocol ?? '';
  const server = ['', 'lxd', 'incus'].includes(protocol);
  if (remote.public || !server) {
    const kind = server ? 'a public image server' : `an image server (protocol ${protocol})`;
    const message = `${label} (${remote.addr}) is ${kind}, not an LXD or Incus API: API.remote() connects to servers`;
    throw new RemoteConfigError(message, 'ERR_LXD_REMOTE_NOT_API', { file: config.file });
  }
  if (remote.auth_type !== 'tls' && !remote.addr.startsWith('unix:')) {
    const how = remote.auth_type === 'oidc' ? 'OpenID Connect (auth_type: oidc)' : `auth_type: ${remote.auth_type}`;
    const instead = 'use TLS client certificates (a trust token gets one trusted: API.join())';
    const message = `${label} authenticates with ${how}, which lxdapi does not support; ${instead}`;
    throw new RemoteConfigError(message, 'ERR_LXD_REMOTE_AUTH', { file: config.file });
  }
}

/** The project to use: `$INCUS_PROJECT` for incus (as its command line does), else the remote's own. */
function projectOf(remote: CliRemote, config: CliConfig): string | undefined {
  const fromEnv = config.cli === 'incus' ? process.env.INCUS_PROJECT : undefined;
  if (fromEnv) return fromEnv;
  // `default` is what the server uses without a project: the command lines do not send it.
  return remote.project && remote.project !== 'default' ? remote.project : undefined;
}

/**
 * The socket of `unix://`. For lxc, undefined: `factory()` then finds it ($LXD_SOCKET, $LXD_DIR, the snap's,
 * /var/lib/lxd, then Incus's). For incus, Incus's own only, so that an LXD beside it is never picked instead.
 */
function localSocket(cli: CliConfig['cli']): string | undefined {
  if (cli === 'lxc') return undefined;
  const env = process.env;
  const tried = [
    env.INCUS_SOCKET,
    env.INCUS_DIR && join(env.INCUS_DIR, 'unix.socket'),
    '/run/incus/unix.socket',
    '/var/lib/incus/unix.socket',
  ].filter((path): path is string => Boolean(path));
  const found = tried.find((path) => existsSync(path));
  if (found) return found;
  const hint = 'is Incus running? Set INCUS_DIR or INCUS_SOCKET';
  throw new APIConnectionError(`No Incus socket found; tried ${tried.join(', ')}`, {
    endpoint: 'unix socket',
    code: 'ENOENT',
    hint,
  });
}

function invalidAddr(label: string, remote: CliRemote, config: CliConfig, cause?: unknown): RemoteConfigError {
  const message = `${label} has addr ${JSON.stringify(remote.addr)}, which is neither https:// nor unix://`;
  return new RemoteConfigError(message, 'ERR_LXD_REMOTE_CONFIG', { file: config.file, cause });
}

// How the `lxc` and `incus` command lines find and read their configuration (canonical/lxd lxc/config,
// lxc/incus shared/cliconfig), for API.remote() and API.join(). Only reads: nothing here writes a file.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RemoteConfigError } from './errors.ts';

/** Whose conventions a configuration folder follows. */
export type Cli = 'lxc' | 'incus';

/** Where `API.remote()` and `API.join()` find the command line's configuration. */
export interface CliConfigOptions {
  /**
   * The configuration folder: `config.yml`, `client.crt`, `client.key`, `servercerts/`.
   * @default `$LXD_CONF` or `$INCUS_CONF` where one is set, else the first that exists of `~/.config/lxc`,
   * `~/snap/lxd/common/config` (the snap's) and `~/.config/incus`
   */
  configDir?: string;
  /**
   * Whose conventions apply: `'lxc'` reads `$LXC_REMOTE` and `/etc/lxd` (or `$LXD_GLOBAL_CONF`); `'incus'`
   * reads `$INCUS_REMOTE`, `$INCUS_PROJECT`, `/etc/incus` (or `$INCUS_GLOBAL_CONF`) and the per-remote
   * `clientcerts/<remote>.crt|key`.
   * @default `'incus'` for `$INCUS_CONF` and `~/.config/incus`, or a `configDir` whose config.yml has a remote of
   * protocol `incus`; else `'lxc'`
   */
  cli?: Cli;
}

/** One entry of `remotes:` in config.yml, as the command lines write it. */
export interface CliRemote {
  /** `https://host:8443`, or `unix://` (the local daemon's socket), or `unix:///path/to/unix.socket` */
  addr: string;
  /** `lxd` or `incus` for a server; `simplestreams` or `oci` for an image server */
  protocol?: string;
  /** `tls` (client certificates; the default) or `oidc` */
  auth_type?: string;
  /** The project the remote's commands use */
  project?: string;
  /** An image server that needs no authentication */
  public?: boolean;
  /** True for a remote of the system-wide configuration (`/etc/lxd/config.yml`, `/etc/incus/config.yml`) */
  global?: boolean;
}

/** The command line's configuration: its own and the system-wide remotes, merged. */
export interface CliConfig {
  cli: Cli;
  /** The configuration folder */
  dir: string;
  /** Its config.yml (which may not exist: then the command line's defaults apply) */
  file: string;
  /** The system-wide configuration folder, whose remotes are added */
  globalDir: string;
  /** `$LXC_REMOTE` / `$INCUS_REMOTE`, else config.yml's `default-remote`, else `local` */
  defaultRemote: string;
  remotes: Record<string, CliRemote>;
}

const LOCAL: CliRemote = { addr: 'unix://', public: false };
const UBUNTU = 'https://cloud-images.ubuntu.com';
// The remotes each command line always has (a config.yml cannot change them, save `local`'s project)...
const STATIC: Record<Cli, Record<string, CliRemote>> = {
  lxc: {
    local: LOCAL,
    ubuntu: { addr: `${UBUNTU}/releases`, protocol: 'simplestreams', public: true },
    'ubuntu-daily': { addr: `${UBUNTU}/daily`, protocol: 'simplestreams', public: true },
  },
  incus: { local: { ...LOCAL, protocol: 'incus' } },
};
// ...and the ones it starts with when there is no config.yml.
const IMAGES: CliRemote = { addr: 'https://images.linuxcontainers.org', protocol: 'simplestreams', public: true };

/** The configuration folder, and whose conventions it follows when that is known from where it was found. */
export function findConfigDir(options: CliConfigOptions = {}): { dir: string; cli: Cli | undefined; snap: boolean } {
  const env = process.env;
  if (options.configDir !== undefined) {
    if (typeof options.configDir !== 'string' || options.configDir === '') {
      throw new TypeError('the configDir option must be a folder path');
    }
    return { dir: options.configDir, cli: options.cli, snap: false };
  }
  if (env.LXD_CONF) return { dir: env.LXD_CONF, cli: options.cli ?? 'lxc', snap: false };
  if (env.INCUS_CONF) return { dir: env.INCUS_CONF, cli: options.cli ?? 'incus', snap: false };
  const home = homedir();
  const candidates: Array<{ dir: string; cli: Cli; snap: boolean }> = [
    { dir: join(home, '.config', 'lxc'), cli: 'lxc', snap: false },
    { dir: join(home, 'snap', 'lxd', 'common', 'config'), cli: 'lxc', snap: true },
    { dir: join(home, '.config', 'incus'), cli: 'incus', snap: false },
  ];
  const found = candidates.find((candidate) => existsSync(candidate.dir)) ?? (candidates[0] as (typeof candidates)[0]);
  return { ...found, cli: options.cli ?? found.cli };
}

/**
 * Reads config.yml and merges the system-wide one the way the command lines do: a remote of the user's own wins
 * over a system-wide one of the same name, and the static remotes (`local`, lxc's `ubuntu`) always apply.
 * Without a config.yml, the command line's defaults apply (`local`, the image servers). YAML is parsed with the
 * `yaml` package, loaded on the first call only.
 */
export function readCliConfig(options: CliConfigOptions = {}): CliConfig {
  const found = findConfigDir(options);
  const file = join(found.dir, 'config.yml');
  const own = readYaml(file, true);
  const ownRemotes = remotesOf(own, file);
  const cli = found.cli ?? (Object.values(ownRemotes ?? {}).some((r) => r.protocol === 'incus') ? 'incus' : 'lxc');
  const env = process.env;
  const globalDir =
    cli === 'incus'
      ? env.INCUS_GLOBAL_CONF || '/etc/incus'
      : env.LXD_GLOBAL_CONF || (found.snap ? '/var/snap/lxd/common/global-conf' : '/etc/lxd');
  const globalFile = join(globalDir, 'config.yml');
  // The command lines skip a system-wide file they cannot read, but not one they cannot parse.
  const globalRemotes = remotesOf(readYaml(globalFile, false), globalFile);

  const remotes: Record<string, CliRemote> = own === undefined ? { images: IMAGES } : {};
  for (const [name, remote] of Object.entries(ownRemotes ?? {})) remotes[name] = remote;
  for (const [name, remote] of Object.entries(globalRemotes ?? {})) remotes[name] ??= { ...remote, global: true };
  for (const [name, remote] of Object.entries(STATIC[cli])) {
    const project = remotes[name]?.project;
    remotes[name] = project ? { ...remote, project } : remote;
  }
  const fromEnv = cli === 'incus' ? env.INCUS_REMOTE : env.LXC_REMOTE;
  const configured = (own as { 'default-remote'?: unknown } | undefined)?.['default-remote'];
  if (configured !== undefined && configured !== null && typeof configured !== 'string') {
    throw new RemoteConfigError(`${file}: default-remote must be a remote's name`, 'ERR_LXD_REMOTE_CONFIG', { file });
  }
  return { cli, dir: found.dir, file, globalDir, defaultRemote: fromEnv || configured || 'local', remotes };
}

/**
 * The client certificate and key a remote uses: Incus's `clientcerts/<remote>.crt|key` when both exist, else the
 * folder's `client.crt` and `client.key`. The paths, whether or not the files exist.
 */
export function clientCertificateFiles(config: Pick<CliConfig, 'cli' | 'dir'>, remote?: string): CertFiles {
  if (config.cli === 'incus' && remote !== undefined) {
    const cert = join(config.dir, 'clientcerts', `${remote}.crt`);
    const key = join(config.dir, 'clientcerts', `${remote}.key`);
    if (existsSync(cert) && existsSync(key)) return { cert, key, ca: join(config.dir, 'clientcerts', `${remote}.ca`) };
  }
  return {
    cert: join(config.dir, 'client.crt'),
    key: join(config.dir, 'client.key'),
    ca: join(config.dir, 'client.ca'),
  };
}

export interface CertFiles {
  cert: string;
  key: string;
  /** A CA for the servers' certificates (PKI mode), used when it exists */
  ca: string;
}

/** A file's bytes, or a RemoteConfigError naming it (never its contents). */
export function readCertificateFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT';
    const message = missing ? `${what} ${file} does not exist` : `${what} ${file} cannot be read (${code ?? 'error'})`;
    const errorCode = missing ? 'ERR_LXD_REMOTE_CERT_MISSING' : 'ERR_LXD_REMOTE_CERT_UNREADABLE';
    throw new RemoteConfigError(message, errorCode, { file, cause: error });
  }
}

type Yaml = typeof import('yaml');
let yaml: Yaml | undefined;

/** The parsed document, or undefined when the file does not exist (or, unless `strict`, cannot be read). */
function readYaml(file: string, strict: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || !strict) return undefined;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new RemoteConfigError(`${file} cannot be read (${code})`, 'ERR_LXD_REMOTE_CONFIG', { file, cause: error });
  }
  // Loaded here, not at import: most programs never read a config.yml, and the library's import time is measured.
  yaml ??= createRequire(import.meta.url)('yaml') as Yaml;
  try {
    // The command lines decode with Go's YAML 1.1 (`public: yes` is a boolean there).
    return yaml.parse(text, { version: '1.1' }) ?? {};
  } catch (error) {
    const first = ((error as Error).message ?? '').split('\n')[0];
    throw new RemoteConfigError(`${file} is not valid YAML: ${first}`, 'ERR_LXD_REMOTE_CONFIG', { file, cause: error });
  }
}

const FIELDS = { addr: 'string', protocol: 'string', auth_type: 'string', project: 'string', public: 'boolean' };

/** The `remotes:` mapping of a parsed config.yml, checked field by field; undefined for no document. */
function remotesOf(document: unknown, file: string): Record<string, CliRemote> | undefined {
  if (document === undefined) return undefined;
  const invalid = (what: string) => new RemoteConfigError(`${file}: ${what}`, 'ERR_LXD_REMOTE_CONFIG', { file });
  if (!isMapping(document)) throw invalid('the document is not a mapping');
  const given = document.remotes;
  if (given === undefined || given === null) return {};
  if (!isMapping(given)) throw invalid('remotes must be a mapping of names to remotes');
  const remotes: Record<string, CliRemote> = {};
  for (const [name, entry] of Object.entries(given)) {
    if (!isMapping(entry)) throw invalid(`remotes.${name} must be a mapping (addr, protocol, ...)`);
    const remote: Record<string, unknown> = { addr: '' };
    for (const [field, type] of Object.entries(FIELDS)) {
      const value = entry[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== type) throw invalid(`remotes.${name}.${field} must be a ${type}, not ${typeof value}`);
      remote[field] = value;
    }
    // As the command lines read it: a private remote without auth_type uses TLS client certificates.
    if (!remote.public && !remote.auth_type) remote.auth_type = 'tls';
    remotes[name] = remote as unknown as CliRemote;
  }
  return remotes;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

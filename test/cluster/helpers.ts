// Shared pieces of the cluster suites: they run against the local LXD cluster
// of `scripts/lxd-sandbox.sh cluster up` (LXD_CLUSTER_* exports) and decide
// every assertion through the library only.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API, type APIOptions } from '../../src/index.ts';
import { collect, uniqueName as named, removeInstance, sleep } from '../helpers/lxd.ts';

export { collect, removeInstance, sleep };

/** `cl-<8 hex>` unless told otherwise: host-unique, since cgroups are named after instances. */
export const uniqueName = (prefix = 'cl') => named(prefix);

export interface ClusterEnv {
  /** The members' URLs, in member order. */
  urls: string[];
  /** Their names (member1, member2, ...), in the same order. */
  members: string[];
  /** Their LXD_DIRs, in the same order. */
  dirs: string[];
  serverCert: string;
  clientCert: string;
  clientKey: string;
  image: string;
}

function readEnv(): ClusterEnv | string {
  const env = process.env;
  if (!env.LXD_CLUSTER_URLS)
    return 'no cluster: LXD_CLUSTER_URLS is not set (run `scripts/lxd-sandbox.sh cluster up`, then `npm test`)';
  const names = [
    'LXD_CLUSTER_SERVER_CERT',
    'LXD_CLUSTER_CLIENT_CERT',
    'LXD_CLUSTER_CLIENT_KEY',
    'LXD_CLUSTER_MEMBERS',
    'LXD_CLUSTER_DIRS',
    'LXD_CLUSTER_IMAGE',
  ];
  const missing = names.filter((name) => !env[name]);
  if (missing.length > 0) throw new Error(`LXD_CLUSTER_URLS is set but ${missing.join(', ')} not`);
  const list = (name: string) => (env[name] as string).split(',');
  const found: ClusterEnv = {
    urls: list('LXD_CLUSTER_URLS'),
    members: list('LXD_CLUSTER_MEMBERS'),
    dirs: list('LXD_CLUSTER_DIRS'),
    serverCert: env.LXD_CLUSTER_SERVER_CERT as string,
    clientCert: env.LXD_CLUSTER_CLIENT_CERT as string,
    clientKey: env.LXD_CLUSTER_CLIENT_KEY as string,
    image: env.LXD_CLUSTER_IMAGE as string,
  };
  if (found.urls.length < 3) return `the cluster suites need 3 members, LXD_CLUSTER_URLS names ${found.urls.length}`;
  if (found.members.length !== found.urls.length || found.dirs.length !== found.urls.length) {
    throw new Error(
      'LXD_CLUSTER_URLS, LXD_CLUSTER_MEMBERS and LXD_CLUSTER_DIRS do not list the same number of members',
    );
  }
  if (!existsSync(found.serverCert))
    return `no cluster: ${found.serverCert} does not exist (run \`scripts/lxd-sandbox.sh cluster up\`)`;
  return found;
}

const found = readEnv();
/** The environment, when a cluster is up (check `skip` first). */
export const cluster = (typeof found === 'string' ? undefined : found) as ClusterEnv;
/** `{ skip: 'no cluster: ...' }` for `describe()` when no cluster is up, else `{}`. */
export const skip: { skip?: string } = typeof found === 'string' ? { skip: found } : {};

/** The cluster certificate pinned, and the trusted client pair. */
export function tls(): Pick<APIOptions, 'serverCert' | 'cert' | 'key'> {
  return {
    serverCert: readFileSync(cluster.serverCert),
    cert: readFileSync(cluster.clientCert),
    key: readFileSync(cluster.clientKey),
  };
}

/** A client of one member, or (given several URLs) of several, in that order. */
export function clusterApi(endpoint: string | string[], options: APIOptions = {}): API {
  return API.factory(endpoint, { ...tls(), ...options });
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `scripts/lxd-sandbox.sh cluster ...`; resolves with its stdout and stderr. */
export function sandbox(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.LXD_DIR;
  delete env.LXD_CONF;
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [join(root, 'scripts', 'lxd-sandbox.sh'), 'cluster', ...args],
      { cwd: root, env, timeout: 180_000 },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { message: `${error.message}\n${stderr}` }));
        else resolvePromise({ stdout, stderr });
      },
    );
  });
}

/** Stops member `index`'s daemon for real (`lxd shutdown`, with its LXD_DIR); resolves once the command returns. */
export function stopMember(index: number): Promise<void> {
  const env = { ...process.env, LXD_DIR: cluster.dirs[index] as string };
  return new Promise((resolvePromise, reject) => {
    execFile('lxd', ['shutdown', '--timeout', '30'], { env, timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error) reject(Object.assign(error, { message: `${error.message}\n${stderr}` }));
      else resolvePromise();
    });
  });
}

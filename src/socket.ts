// The local socket: where it is, whether it can be opened, and how endpoints name it.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { APIConnectionError } from './errors.ts';

/** What to check when a socket is missing: the server may be LXD or Incus, and either may live elsewhere. */
export const NOT_RUNNING_HINT =
  'is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path';
/** What to check when a socket may not be opened: each server's group gives access to its socket. */
export const GROUP_HINT = 'is this user in the lxd group, or incus-admin for Incus?';

/**
 * The sockets `API.factory()` tries, in order, when given no endpoint: those the environment names
 * first (LXD's, then Incus's), then the default paths. Beside each Incus `unix.socket` is its
 * per-user `unix.socket.user` (the incus-user daemon's), which Incus's own client takes when
 * `unix.socket` may not be written.
 */
export function socketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const incus = (dir: string) => [join(dir, 'unix.socket'), join(dir, 'unix.socket.user')];
  return [
    env.LXD_SOCKET,
    env.LXD_DIR && join(env.LXD_DIR, 'unix.socket'),
    env.INCUS_SOCKET,
    ...(env.INCUS_DIR ? incus(env.INCUS_DIR) : []),
    '/var/snap/lxd/common/lxd/unix.socket',
    '/var/lib/lxd/unix.socket',
    '/run/incus/unix.socket',
    ...incus('/var/lib/incus'),
  ].filter((path): path is string => Boolean(path));
}

/**
 * The first socket of `socketCandidates()` that this user may write to, else the first that exists
 * (whose error then says why it cannot be used), or a throw naming them all.
 */
export function findSocket(env: NodeJS.ProcessEnv = process.env): string {
  const tried = socketCandidates(env);
  const existing = tried.filter((path) => existsSync(path));
  const found = existing.find(writable) ?? existing[0];
  if (found) return found;
  throw new Error(`No LXD or Incus socket found; tried ${tried.join(', ')}: ${NOT_RUNNING_HINT} to API.factory().`);
}

/**
 * Throws at once, as lxdapi does, when the socket is missing ("Socket X does
 * not exist") or its folder may not be searched by this user.
 */
export function checkSocket(socketPath: string): void {
  try {
    statSync(socketPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ENOENT';
    const fields = { endpoint: unixEndpoint(socketPath), code };
    if (code === 'EACCES' || code === 'EPERM') {
      throw new APIConnectionError(
        `Socket ${socketPath} is not accessible`,
        { ...fields, hint: `permission denied: ${GROUP_HINT}` },
        { cause: error },
      );
    }
    throw new APIConnectionError(
      `Socket ${socketPath} does not exist`,
      { ...fields, hint: NOT_RUNNING_HINT },
      { cause: error },
    );
  }
}

/**
 * `http+unix://%2Fvar%2Flib%2Flxd%2Funix.socket`: the socket path encoded the
 * way Python's `quote_plus` does it, so messages read exactly as lxdapi's.
 */
export function unixEndpoint(socketPath: string): string {
  const encoded = encodeURIComponent(socketPath)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return `http+unix://${encoded}`;
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The socket path of an `http+unix://` endpoint, undefined for any other. */
export function socketPathOf(endpoint: string): string | undefined {
  if (!endpoint.startsWith('http+unix://')) return undefined;
  return decodeURIComponent(endpoint.slice('http+unix://'.length).replace(/\+/g, ' '));
}

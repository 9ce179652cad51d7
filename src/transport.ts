import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { Agent } from 'undici';
import { redactUrl } from './debug.ts';
import { APIConnectionError } from './errors.ts';

/** The sockets `API.factory()` tries, in order, when given no endpoint. */
export function socketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    env.LXD_SOCKET,
    env.LXD_DIR && join(env.LXD_DIR, 'unix.socket'),
    '/var/snap/lxd/common/lxd/unix.socket',
    '/var/lib/lxd/unix.socket',
    env.INCUS_SOCKET,
    env.INCUS_DIR && join(env.INCUS_DIR, 'unix.socket'),
    '/run/incus/unix.socket',
    '/var/lib/incus/unix.socket',
  ].filter((path): path is string => Boolean(path));
}

/** The first existing socket of `socketCandidates()`, or a throw naming them all. */
export function findSocket(env: NodeJS.ProcessEnv = process.env): string {
  const tried = socketCandidates(env);
  const found = tried.find((path) => existsSync(path));
  if (found) return found;
  throw new Error(`No LXD socket found; tried ${tried.join(', ')}. Is LXD installed and running? Set LXD_DIR or LXD_SOCKET, or pass the socket path to API.factory().`);
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
      throw new APIConnectionError(`Socket ${socketPath} is not accessible`, { ...fields, hint: 'permission denied: is this user in the lxd group?' }, { cause: error });
    }
    throw new APIConnectionError(`Socket ${socketPath} does not exist`, { ...fields, hint: 'is LXD running? Set LXD_DIR or LXD_SOCKET, or pass the socket path' }, { cause: error });
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

/** A dispatcher for a local unix socket. */
export function unixAgent(socketPath: string): Agent {
  return new Agent({ connect: { socketPath } });
}

export interface TlsSettings {
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  serverCert?: string | Buffer | undefined;
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  /** The folder that cert and key were read from when the caller gave none (`~/.config/lxc`), for messages. */
  clientFolder?: string | undefined;
}

/** Where `lxc` keeps its client certificate: its own folder, then the snap's. */
export function defaultClientCertificate(home = homedir()): { cert: Buffer; key: Buffer; folder: string } | undefined {
  for (const folder of [join(home, '.config', 'lxc'), join(home, 'snap', 'lxd', 'common', 'config')]) {
    const cert = join(folder, 'client.crt');
    const key = join(folder, 'client.key');
    if (existsSync(cert) && existsSync(key)) return { cert: readFileSync(cert), key: readFileSync(key), folder };
  }
  return undefined;
}

/**
 * A dispatcher for a TLS remote. With `serverCert`, the connection is
 * accepted if and only if the server presents exactly that certificate,
 * whatever host name the URL uses (what `lxc` does with the certificates it
 * keeps in `servercerts/`): the certificate is the only trust anchor and the
 * host-name check is replaced by a byte comparison. Otherwise the system's
 * (or the given `ca`'s) chain and host-name checks apply. Verification is
 * never turned off.
 */
export function tlsAgent(settings: TlsSettings): Agent {
  checkClientPair(settings);
  const connect: Record<string, unknown> = { rejectUnauthorized: true };
  if (settings.cert !== undefined) connect.cert = settings.cert;
  if (settings.key !== undefined) connect.key = settings.key;
  if (settings.serverCert !== undefined) {
    const pinned = certificate('serverCert', settings.serverCert);
    connect.ca = settings.serverCert;
    connect.checkServerIdentity = (_host: string, peer: PeerCertificate) => {
      if (peer.raw?.equals(pinned.raw)) return undefined;
      return Object.assign(new Error(`server certificate ${peer.fingerprint256} is not the pinned ${pinned.fingerprint256}`), {
        code: 'ERR_LXD_CERT_PIN_MISMATCH',
      });
    };
  } else if (settings.ca !== undefined) {
    // OpenSSL skips CA entries it cannot parse without a word: each must be a certificate.
    for (const pem of Array.isArray(settings.ca) ? settings.ca : [settings.ca]) certificate('ca', pem);
    connect.ca = settings.ca;
  }
  return new Agent({ connect });
}

/**
 * Loads the client certificate and key once, when the API is built: a PEM that does not parse, or
 * a key that is not the certificate's, fails here with a TypeError instead of on every request as
 * an OpenSSL code. The messages name the option (or lxc's file), never its contents.
 */
function checkClientPair(settings: TlsSettings): void {
  const { cert, key, clientFolder: folder } = settings;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(`a client certificate needs both cert and key; only ${cert === undefined ? 'key' : 'cert'} was given`);
  }
  if (cert === undefined || key === undefined) return;
  const name = (option: 'cert' | 'key') => (folder === undefined ? `the ${option} option` : join(folder, option === 'cert' ? 'client.crt' : 'client.key'));
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') throw new TypeError(`${name('key')} is not the private key of ${name('cert')}`, { cause: error });
    // Which of the two did not parse: the certificate alone tells.
    let culprit: 'cert' | 'key' = 'key';
    try {
      createSecureContext({ cert });
    } catch {
      culprit = 'cert';
    }
    throw new TypeError(`${name(culprit)} could not be read as PEM: ${(error as Error).message}`, { cause: error });
  }
}

/** A PEM certificate parsed, or a TypeError naming the option. */
function certificate(option: string, pem: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new TypeError(`the ${option} option is not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
}

/** The fingerprint (SHA-256, colon-separated) of a PEM certificate, for messages. */
export function fingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

const CERT_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'ERR_LXD_CERT_PIN_MISMATCH',
]);
const CLIENT_CERT_REFUSED =
  /^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|SSLV3_ALERT_HANDSHAKE_FAILURE|TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_CERTIFICATE_UNKNOWN|TLSV1_ALERT_ACCESS_DENIED)$/;

export interface FailureContext {
  method: string;
  url: string;
  endpoint: string;
  socketPath?: string | undefined;
  pinned?: string | undefined;
  tls: boolean;
  /** Whether a client certificate was configured. */
  clientCert?: boolean;
  /** Whether the response headers had arrived. */
  answered?: boolean;
}

/** Turns a transport failure into an `APIConnectionError` that says what to check. */
export function connectionError(error: unknown, context: FailureContext): APIConnectionError {
  const code = errorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new APIConnectionError(`${context.method} ${redactUrl(context.url)} failed: ${detail}`, {
    endpoint: context.endpoint,
    code,
    hint: hintFor(code, context),
  }, { cause: error });
}

/** Failures that happen before a request is sent: another cluster member may take it. */
export const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** The first `code` on an error or its causes. */
export function errorCode(error: unknown): string {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

function hintFor(code: string, context: FailureContext): string {
  const where = context.socketPath ? `socket ${context.socketPath}` : context.endpoint;
  if (code === 'ENOENT') return `${where} does not exist: is LXD running? Set LXD_DIR or LXD_SOCKET, or pass the socket path`;
  if (code === 'ECONNREFUSED') {
    return context.socketPath
      ? `nothing listens on ${where}: is LXD running?`
      : `nothing listens at ${where}: is LXD running, with core.https_address set to this address?`;
  }
  if (code === 'EACCES' || code === 'EPERM') return `permission denied on ${where}: is this user in the lxd group?`;
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') return 'this API was closed (api.close()): make a new one';
  if (code === 'ERR_LXD_TIMEOUT') return 'no complete answer before the timeout option expired';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return `${where} did not accept the connection in time`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return `${where} accepted the request but sent no response headers in time`;
  if (code === 'UND_ERR_BODY_TIMEOUT') return `${where} stopped sending the response body`;
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'the response body was shorter than its Content-Length';
  if ((code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') && context.tls && !context.clientCert && !context.answered) {
    // TLS 1.3 servers reject a missing client certificate after the handshake, so the client often sees only a close.
    return `${where} closed the connection before answering, and no client certificate was given: pass cert and key, trusted on the server (lxc config trust add)`;
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return `${where} closed the connection before the response was complete`;
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired";
  if (code === 'CERT_NOT_YET_VALID') return "the server's certificate is not valid yet: check both clocks";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name the host of ${context.endpoint}: pin it with the serverCert option to connect whatever the host name`;
  }
  if (CERT_UNTRUSTED.has(code)) {
    return context.pinned
      ? `the server's certificate is not the pinned serverCert (${context.pinned})`
      : "the server's certificate is not trusted: pass it as serverCert (lxc keeps it in ~/.config/lxc/servercerts/) or its CA as ca";
  }
  if (CLIENT_CERT_REFUSED.test(code)) {
    return 'the server refused the TLS handshake over the client certificate: pass cert and key, and trust them on the server (lxc config trust add)';
  }
  if (context.tls && code.startsWith('ERR_SSL_')) return 'the TLS handshake failed';
  return '';
}

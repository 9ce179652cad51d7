// API.join(): gets this client's certificate trusted by a server with a trust token, as `lxc remote add <token>`
// and `incus remote add <token>` do, without ever sending the token's secret to a server that is not the one the
// token names.
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, createSecureContext } from 'node:tls';
import { type CliConfigOptions, clientCertificateFiles, findConfigDir } from './cli-config.ts';
import { loadClientPair } from './client-cert.ts';
import { APIConnectionError, APIException } from './errors.ts';
import { decodeTrustToken, type TrustToken } from './token.ts';

/** Options of `API.join()`, besides those of `API.factory()` (`project`, `timeout`, `debug`, ...). */
export interface JoinOptions extends CliConfigOptions {
  /** The client certificate (PEM) to get trusted. @default the command line's `client.crt` (see `configDir`) */
  cert?: string | Buffer;
  /** Its private key (PEM). @default the command line's `client.key` */
  key?: string | Buffer;
  /**
   * Where to reach the server instead of the token's addresses (`host:port` or `https://host:port`), e.g. through
   * a NAT or a tunnel. The server must still present the certificate the token names.
   */
  addresses?: string[];
  /**
   * Milliseconds for each address's TLS handshake, and the API's per-request deadline as in `API.factory()`.
   * @default 10000 for the handshake
   */
  timeout?: number;
}

/** What `join()` needs of the client `factory()` builds. */
export interface JoinClient {
  request(method: string, url: string, options?: { json?: unknown }): PromiseLike<{ metadata: unknown }>;
  close(): Promise<void>;
}

/** A client that `join()` got trusted, with the certificate the server presented (to save, as `lxc` does). */
export type Joined<T> = T & {
  /** The server's certificate (PEM), whose SHA-256 the token named: pin it as `serverCert` from now on. */
  readonly serverCertificate: string;
};

const DEFAULT_PORT = '8443';
const HANDSHAKE_TIMEOUT = 10_000;
const NOT_WITH_JOIN = ['serverCert', 'ca', 'dispatcher'];

/**
 * Tries the token's addresses in turn. An address is used only if the certificate its server presents has the
 * token's fingerprint; nothing is sent to one that fails that check, so the token stays usable. The client is then
 * built with that certificate pinned, and the token is sent as LXD and Incus expect it (see `trustBody`).
 */
export async function joinServer<T extends JoinClient, O extends object>(
  factory: (endpoint: string, options: O) => T,
  token: string,
  options: JoinOptions & O,
): Promise<Joined<T>> {
  const decoded = decodeTrustToken(token);
  for (const name of NOT_WITH_JOIN) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(`API.join() pins the certificate the token names: the ${name} option cannot be given`);
    }
  }
  const { configDir: _dir, cli: _cli, addresses: _addresses, cert: _cert, key: _key, ...rest } = options;
  const pair = clientPair(options);
  const timeout = options.timeout ?? HANDSHAKE_TIMEOUT;
  const failures: string[] = [];
  let last: unknown;
  let mismatch = false;
  let endpoint = '';
  for (const address of options.addresses ?? decoded.addresses) {
    endpoint = serverUrl(address);
    let presented: { pem: string; fingerprint: string };
    try {
      presented = await probe(new URL(endpoint), timeout);
    } catch (error) {
      failures.push(`${endpoint}: ${(error as Error).message}`);
      last = error;
      continue;
    }
    if (presented.fingerprint !== decoded.fingerprint) {
      mismatch = true;
      failures.push(
        `${endpoint} presented certificate ${presented.fingerprint}, not the token's ${decoded.fingerprint}`,
      );
      continue;
    }
    const pinned = { ...pair, serverCert: presented.pem };
    // The join's requests go without the project and target the caller wants for later: /1.0 has neither.
    const { project, target, ...plain } = rest as { project?: string; target?: string };
    const api = await trust(factory(endpoint, { ...plain, ...pinned } as O), endpoint, token, decoded);
    if (project === undefined && target === undefined) return joined(api, presented.pem);
    await api.close();
    return joined(factory(endpoint, { ...rest, ...pinned } as unknown as O), presented.pem);
  }
  const code = mismatch ? 'ERR_LXD_CERT_PIN_MISMATCH' : codeOf(last);
  const hint = mismatch
    ? "nothing was sent to a server whose certificate is not the token's: check the address, or ask for a new token"
    : 'no address of the token could be reached: pass the addresses option with one that can';
  const message = `cannot join with the trust token: ${failures.join('; ')}`;
  throw new APIConnectionError(message, { endpoint, code, hint }, { cause: last });
}

/**
 * Reads the certificate the server at `url` presents, on a TLS connection of its own, and closes it. Accepting
 * any certificate here (rejectUnauthorized: false) is safe: the probe writes no application data (no HTTP request,
 * no token), presents no client certificate, and its caller only compares what it read. A server can present a
 * certificate only with its private key (the handshake proves it), so a matching fingerprint is the token's server.
 */
function probe(url: URL, timeout: number): Promise<{ pem: string; fingerprint: string }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    // RFC 6066 forbids an IP address as the server name.
    const socket = connect({
      host,
      port: Number(url.port),
      rejectUnauthorized: false,
      ...(isIP(host) ? {} : { servername: host }),
    });
    socket.setTimeout(timeout, () => {
      const error = Object.assign(new Error(`no TLS handshake within ${timeout} ms`), { code: 'ETIMEDOUT' });
      socket.destroy(error);
    });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const der = socket.getPeerCertificate().raw;
      socket.destroy();
      if (!der)
        return reject(Object.assign(new Error('the server presented no certificate'), { code: 'ERR_TLS_NO_CERT' }));
      resolve({
        pem: new X509Certificate(der).toString(),
        fingerprint: createHash('sha256').update(der).digest('hex'),
      });
    });
  });
}

/** Sends the token over the pinned client and checks that the server trusts it now; closes it on failure. */
async function trust<T extends JoinClient>(api: T, url: string, token: string, decoded: TrustToken): Promise<T> {
  try {
    // Readable untrusted, and carries no secret: it says which field the server reads the token from.
    const server = await api.request('GET', '/1.0');
    const extensions = (server.metadata as { api_extensions?: unknown } | null)?.api_extensions;
    const [path, json] = trustBody(token, decoded, Array.isArray(extensions) ? extensions : []);
    let refused: unknown;
    try {
      await api.request('POST', path, { json });
    } catch (error) {
      refused = error;
    } finally {
      // The result and any APIException keep the body they sent: no copy of the token stays behind in them.
      for (const field of Object.keys(json)) if (field !== 'type') json[field] = '<redacted>';
    }
    if (refused !== undefined && !(refused instanceof APIException)) throw refused;
    const after = await api.request('GET', '/1.0');
    const auth = (after.metadata as { auth?: unknown } | null)?.auth;
    // A server that refused may still trust us: the certificate was trusted before (LXD: 400, already trusted).
    if (auth !== 'trusted') {
      if (refused) throw refused;
      const message = `GET ${url}/1.0 auth is ${String(auth)} after the server accepted the trust token`;
      throw new APIException(message, after as unknown as ConstructorParameters<typeof APIException>[1]);
    }
    return api;
  } catch (error) {
    await api.close();
    throw error;
  }
}

function joined<T extends object>(api: T, pem: string): Joined<T> {
  Object.defineProperty(api, 'serverCertificate', { value: pem, enumerable: true });
  return api as Joined<T>;
}

/**
 * Where and how the token goes. LXD 5.0 reads it from `password` (and ignores `trust_token`); a server with the
 * `explicit_trust_token` extension (LXD 5.21+, whose 6.x refuses `password`) wants `trust_token` alone; Incus 6.0
 * reads only `trust_token` but has no extension that says so. Both fields at once suit LXD 5.0 and Incus alike.
 * A token of LXD 6's auth API (with a `type`) goes to its TLS identities.
 */
function trustBody(token: string, decoded: TrustToken, extensions: unknown[]): [string, Record<string, string>] {
  if (decoded.type) return ['/1.0/auth/identities/tls', { trust_token: token }];
  if (extensions.includes('explicit_trust_token')) return ['/1.0/certificates', { type: 'client', trust_token: token }];
  return ['/1.0/certificates', { type: 'client', password: token, trust_token: token }];
}

/** The certificate and key to get trusted: the options' (checked as a pair), else the command line's files. */
function clientPair(options: JoinOptions): { cert: string | Buffer; key: string | Buffer } {
  const { cert, key } = options;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(
      `a client certificate needs both cert and key; only ${cert === undefined ? 'key' : 'cert'} was given`,
    );
  }
  if (cert !== undefined && key !== undefined) {
    try {
      new X509Certificate(cert);
    } catch (error) {
      throw new TypeError('the cert option is not a PEM certificate', { cause: error });
    }
    try {
      createSecureContext({ cert, key });
    } catch (error) {
      throw new TypeError('the key option is not a PEM private key of the cert option', { cause: error });
    }
    return { cert, key };
  }
  const found = findConfigDir(options);
  return loadClientPair(clientCertificateFiles({ cli: found.cli ?? 'lxc', dir: found.dir }), 'API.join()');
}

/** `https://host:port` for `host:port`, `[v6]:port` or an https URL; LXD's port when none is given. */
function serverUrl(address: string): string {
  const withScheme = address.startsWith('https://') ? address : `https://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (error) {
    throw new TypeError(`${JSON.stringify(address)} is not a host:port address`, { cause: error });
  }
  // URL drops a port that is https's own (443): keep it when it was written.
  const written = /:(\d+)$/.exec(withScheme.slice('https://'.length).split('/')[0] ?? '')?.[1];
  return `https://${url.host}${url.port === '' ? `:${written ?? DEFAULT_PORT}` : ''}`;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

// What factory() resolves an endpoint to: the dispatcher, the members, and what failures' hints need.
import type { Dispatcher } from 'undici';
import { defaultClientCertificate, fingerprint, tlsAgent, unixAgent } from './agents.ts';
import { APIConnectionError } from './errors.ts';
import type { APIOptions } from './options.ts';
import { MemberPool } from './pool.ts';
import { checkSocket, findSocket, socketPathOf, unixEndpoint } from './socket.ts';

export interface Transport {
  readonly dispatcher: Dispatcher;
  /** Whether the dispatcher is the library's own, to close with the API. */
  readonly owned: boolean;
  readonly pool: MemberPool;
  /** The socket path, for a unix endpoint. */
  readonly socketPath: string | undefined;
  /** The pinned server certificate's fingerprint, for messages. */
  readonly pinned: string | undefined;
  /** Whether a client certificate was configured, for messages. */
  readonly clientCert: boolean;
}

/** A transport over a dispatcher the caller built, to the given endpoint. */
export function givenTransport(dispatcher: Dispatcher, endpoint: string): Transport {
  const member = endpoint.endsWith('/') ? endpoint.slice(0, -1) : endpoint;
  const pool = new MemberPool([member]);
  return { dispatcher, owned: false, pool, socketPath: socketPathOf(member), pinned: undefined, clientCert: false };
}

/**
 * No endpoint: the local socket found by `findSocket()`; a path: that socket; `https://...`: a TLS
 * remote with the options' (or lxc's) client certificate; several URLs: the members of a cluster,
 * which share one certificate, so one pin serves all.
 */
export function openTransport(endpoint: string | string[] | undefined, options: APIOptions): Transport {
  if (Array.isArray(endpoint)) return clusterTransport(endpoint, options);
  const given = options.dispatcher;
  if (endpoint === undefined || endpoint.startsWith('/')) {
    let socketPath: string;
    try {
      socketPath = endpoint ?? findSocket();
    } catch (error) {
      throw new APIConnectionError((error as Error).message, { endpoint: 'unix socket', code: 'ENOENT', hint: '' });
    }
    checkSocket(socketPath);
    const member = unixEndpoint(socketPath);
    if (given) return givenTransport(given, member);
    const pool = new MemberPool([member]);
    return { dispatcher: unixAgent(socketPath), owned: true, pool, socketPath, pinned: undefined, clientCert: false };
  }
  return tlsTransport([parseEndpoint(endpoint)], options, endpoint);
}

function clusterTransport(endpoints: string[], options: APIOptions): Transport {
  if (endpoints.length === 0) throw new TypeError('API.factory() needs at least one cluster member');
  const urls = endpoints.map((endpoint) => {
    if (typeof endpoint !== 'string' || endpoint.startsWith('/')) {
      throw new TypeError(`cluster members are https:// URLs, got ${String(endpoint)}`);
    }
    return parseEndpoint(endpoint);
  });
  return tlsTransport(urls, options);
}

function tlsTransport(members: string[], options: APIOptions, named = members[0]): Transport {
  const pool = new MemberPool(members);
  if (options.dispatcher) return { ...givenTransport(options.dispatcher, pool.current), pool };
  if (pool.current.startsWith('http:')) {
    throw new TypeError(
      `${named}: LXD serves its API over HTTPS only; use https://, or pass a dispatcher for a plain-HTTP proxy`,
    );
  }
  const fallback = options.cert === undefined && options.key === undefined ? defaultClientCertificate() : undefined;
  const cert = options.cert ?? fallback?.cert;
  const dispatcher = tlsAgent({
    cert,
    key: options.key ?? fallback?.key,
    serverCert: options.serverCert,
    ca: options.ca,
    clientFolder: fallback?.folder,
  });
  const pinned = options.serverCert === undefined ? undefined : fingerprint(options.serverCert);
  return { dispatcher, owned: true, pool, socketPath: undefined, pinned, clientCert: cert !== undefined };
}

function parseEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (error) {
    throw new TypeError(`${endpoint} is not a socket path or an https:// URL`, { cause: error });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`${endpoint}: unsupported scheme ${url.protocol}, use a socket path or https://host:port`);
  }
  if (url.username || url.password) {
    throw new TypeError('the endpoint must not carry credentials; LXD authenticates with the client certificate');
  }
  return endpoint.replace(/\/+$/, '');
}

// Trust tokens: what `lxc config trust add` and `incus config trust add` print. A token is base64 of a JSON
// object (LXD's and Incus's api.CertificateAddToken). Decoding checks every field, so that a mangled paste fails
// here, with what is wrong, and not later at a server. No message quotes the token or its secret.

/** A decoded trust token. `secret` is not enumerable: it stays out of `console.log` and `JSON.stringify`. */
export interface TrustToken {
  /** The name the server gives the client's certificate */
  client_name: string;
  /** SHA-256 of the server certificate's DER, 64 lowercase hex digits */
  fingerprint: string;
  /** Where the server listens, `host:port` each (`[v6]:port` for IPv6) */
  addresses: string[];
  /** The join secret (not enumerable) */
  readonly secret: string;
  /** When the token expires (RFC 3339); absent when it does not (the server wrote Go's zero time, or nothing) */
  expires_at?: string;
  /** Set by LXD 6 on tokens of its auth API (`lxc auth identity create tls/<name>`), which are added there */
  type?: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;
// Go's time.Time zero value: a token that does not expire.
const NEVER = /^0001-01-01T00:00:00(\.0+)?Z$/;

/**
 * Decodes a trust token and checks it: a TypeError says what is wrong when it is not a token, or has expired.
 * @example const { addresses, fingerprint, expires_at } = decodeTrustToken(token);
 */
export function decodeTrustToken(token: string, now: Date = new Date()): TrustToken {
  if (typeof token !== 'string')
    throw new TypeError(`a trust token is a string, got ${token === null ? 'null' : typeof token}`);
  const text = token.trim();
  if (text === '') throw new TypeError('the trust token is empty');
  if (text.length % 4 !== 0 || !BASE64.test(text)) {
    throw new TypeError('the trust token is not base64: copy the whole line `lxc config trust add` printed');
  }
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch (error) {
    throw new TypeError('the trust token is base64, but not of JSON: it is not a trust token', { cause: error });
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new TypeError('the trust token is not a JSON object: it is not a trust token');
  }
  const { client_name, fingerprint, addresses, secret, expires_at, type } = fields;
  const bad = (what: string) => new TypeError(`the trust token's ${what}`);
  if (typeof client_name !== 'string') throw bad('client_name is not a string');
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint.toLowerCase())) {
    throw bad('fingerprint is not a SHA-256 fingerprint (64 hex digits)');
  }
  if (!Array.isArray(addresses) || addresses.length === 0) throw bad('addresses are missing: no server to join');
  if (!addresses.every((address) => typeof address === 'string' && address !== '')) {
    throw bad('addresses are not all host:port strings');
  }
  if (typeof secret !== 'string' || secret === '') throw bad('secret is missing');
  if (type !== undefined && type !== null && typeof type !== 'string') throw bad('type is not a string');
  const decoded = { client_name, fingerprint: fingerprint.toLowerCase(), addresses: [...addresses] } as TrustToken;
  if (typeof type === 'string' && type !== '') decoded.type = type;
  if (expires_at !== undefined && expires_at !== null && expires_at !== '') {
    if (typeof expires_at !== 'string') throw bad('expires_at is not a date');
    const expires = Date.parse(expires_at);
    if (Number.isNaN(expires)) throw bad(`expires_at (${JSON.stringify(expires_at)}) is not a date`);
    if (!NEVER.test(expires_at)) {
      if (expires <= now.getTime()) {
        const ago = Math.round((now.getTime() - expires) / 1000);
        throw new TypeError(`the trust token expired at ${expires_at} (${ago} s ago): ask the server for a new one`);
      }
      decoded.expires_at = expires_at;
    }
  }
  Object.defineProperty(decoded, 'secret', { value: secret, enumerable: false });
  return decoded;
}

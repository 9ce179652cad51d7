// Transport failures as APIConnectionError, with a hint that says what to check.
import { APIConnectionError } from './errors.ts';
import { errorCode } from './pool.ts';
import { redactUrl } from './redact.ts';
import { GROUP_HINT, NOT_RUNNING_HINT } from './socket.ts';

const CERT_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'ERR_LXD_CERT_PIN_MISMATCH',
]);
const CLIENT_CERT_REFUSED = new Set(
  [
    'TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'SSLV3_ALERT_BAD_CERTIFICATE',
    'SSLV3_ALERT_HANDSHAKE_FAILURE',
    'TLSV1_ALERT_UNKNOWN_CA',
    'SSLV3_ALERT_CERTIFICATE_UNKNOWN',
    'TLSV1_ALERT_ACCESS_DENIED',
  ].map((alert) => `ERR_SSL_${alert}`),
);

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
  const request = { method: context.method, url: context.url };
  const fields = { endpoint: context.endpoint, code, hint: hintFor(code, context), request };
  return new APIConnectionError(`${context.method} ${redactUrl(context.url)} failed: ${detail}`, fields, {
    cause: error,
  });
}

/** The cause of a failure past a client-side deadline: code `ERR_LXD_TIMEOUT`. */
export function timeoutCause(ms: number | undefined): Error {
  return Object.assign(new Error(`timed out after ${ms} ms`), { code: 'ERR_LXD_TIMEOUT' });
}

function hintFor(code: string, context: FailureContext): string {
  const where = context.socketPath ? `socket ${context.socketPath}` : context.endpoint;
  if (code === 'ENOENT') return `${where} does not exist: ${NOT_RUNNING_HINT}`;
  if (code === 'ECONNREFUSED') {
    return context.socketPath
      ? `nothing listens on ${where}: is LXD or Incus running?`
      : `nothing listens at ${where}: is the server running, with core.https_address set to this address?`;
  }
  if (code === 'EACCES' || code === 'EPERM') return `permission denied on ${where}: ${GROUP_HINT}`;
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED')
    return 'this API was closed (api.close()): make a new one';
  if (code === 'ERR_LXD_TIMEOUT') return 'no complete answer before the timeout option expired';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return `${where} did not accept the connection in time`;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return `${where} accepted the request but sent no response headers in time`;
  if (code === 'UND_ERR_BODY_TIMEOUT') return `${where} stopped sending the response body`;
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'the response body was shorter than its Content-Length';
  if (
    (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') &&
    context.tls &&
    !context.clientCert &&
    !context.answered
  ) {
    // TLS 1.3 servers reject a missing client certificate after the handshake, so the client often sees only a close.
    return (
      `${where} closed the connection before answering, and no client certificate was given: ` +
      'pass cert and key, trusted on the server (lxc config trust add)'
    );
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')
    return `${where} closed the connection before the response was complete`;
  if (code === 'CERT_HAS_EXPIRED') return "the server's certificate has expired";
  if (code === 'CERT_NOT_YET_VALID') return "the server's certificate is not valid yet: check both clocks";
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return (
      `the server's certificate does not name the host of ${context.endpoint}: ` +
      'pin it with the serverCert option to connect whatever the host name'
    );
  }
  if (CERT_UNTRUSTED.has(code)) {
    return context.pinned
      ? `the server's certificate is not the pinned serverCert (${context.pinned})`
      : "the server's certificate is not trusted: " +
          'pass it as serverCert (lxc keeps it in ~/.config/lxc/servercerts/) or its CA as ca';
  }
  if (CLIENT_CERT_REFUSED.has(code)) {
    return (
      'the server refused the TLS handshake over the client certificate: ' +
      'pass cert and key, and trust them on the server (lxc config trust add)'
    );
  }
  if (context.tls && code.startsWith('ERR_SSL_')) return 'the TLS handshake failed';
  return '';
}

// Secrets out of everything the library prints or puts in an error: dumps, URLs, headers.

/** What replaces a secret in dumps and error messages. */
export const REDACTED = '<redacted>';

// Fields whose values are credentials wherever they appear: certificate-add
// passwords and trust tokens, operation secrets, join tokens.
const SECRET_KEYS = new Set(['password', 'trust_token', 'token', 'secret']);
// An operation's `metadata.fds` maps websocket names to their secrets.
const SECRET_MAPS = new Set(['fds']);
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);
const SECRET_QUERY = /([?&](?:secret|password|token|trust_token)=)[^&#]*/gi;

/**
 * A copy of `value` with every secret replaced by `"<redacted>"`. The copy is
 * made iteratively so that data nested thousands of levels deep is fine.
 */
export function redact(value: unknown): unknown {
  if (!isContainer(value)) return value;
  const root: unknown = Array.isArray(value) ? [] : {};
  const stack: Array<[from: object, to: Record<string, unknown>, secretMap: boolean]> = [
    [value, root as Record<string, unknown>, false],
  ];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const [from, to, secretMap] = frame;
    for (const [key, item] of Object.entries(from)) {
      const name = key.toLowerCase();
      if ((secretMap || SECRET_KEYS.has(name)) && typeof item === 'string') {
        to[key] = REDACTED;
      } else if (isContainer(item)) {
        const copy = Array.isArray(item) ? [] : {};
        to[key] = copy;
        stack.push([
          item,
          copy as Record<string, unknown>,
          secretMap || SECRET_MAPS.has(name) || SECRET_KEYS.has(name),
        ]);
      } else {
        to[key] = item;
      }
    }
  }
  return root;
}

/** A URL with secret query values (an operation websocket's `secret=`) replaced. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, `$1${REDACTED}`);
}

/**
 * Headers (names in lower case, as requests send them) with credentials replaced: the same
 * object when it holds none (most requests), else a copy.
 */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  let secret = false;
  for (const name in headers) if (SECRET_HEADERS.has(name)) secret = true;
  if (!secret) return headers;
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) copy[name] = SECRET_HEADERS.has(name) ? REDACTED : value;
  return copy;
}

/**
 * Pretty JSON of a redacted copy, as lxdapi prints it (indent of 4). Data too
 * deep for `JSON.stringify` is named, not printed.
 */
export function dumpJson(value: unknown, indent = 4): string {
  try {
    return JSON.stringify(redact(value), null, indent) ?? String(value);
  } catch (error) {
    if (error instanceof RangeError) return '<JSON nested too deeply to print>';
    throw error;
  }
}

/** `<1048576 bytes>` for a raw body of known size, `<stream>` otherwise. */
export function describeBytes(body: unknown): string {
  if (typeof body === 'string') return `<${Buffer.byteLength(body)} bytes>`;
  if (body instanceof Uint8Array) return `<${body.byteLength} bytes>`;
  return '<stream>';
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

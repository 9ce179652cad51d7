// A request's headers and body as undici takes them. Pure but for wrapping an iterable in a stream.
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { RequestOptions } from './options.ts';

export type Payload = Dispatcher.DispatchOptions['body'];

/** The headers (names in lower case) and the body of a request: `json` serialised, `body` as it can be streamed. */
export function encodeBody(
  options: RequestOptions,
  userAgent: string,
): { headers: Record<string, string>; payload: Payload } {
  const headers = clientHeaders(userAgent, options.headers);
  if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
  if (options.json !== undefined && options.body !== undefined)
    throw new TypeError('pass either json or body, not both');
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    return { headers, payload: serialise(options.json) };
  }
  const body = options.body;
  if (body === undefined) return { headers, payload: undefined };
  const isIterable = typeof body === 'object' && body !== null && Symbol.asyncIterator in body;
  if (typeof body !== 'string' && !(body instanceof Uint8Array) && !isIterable) {
    throw new TypeError('the body option must be a string, Uint8Array, Readable or AsyncIterable');
  }
  headers['content-type'] ??= 'application/octet-stream';
  if (isIterable && !(body instanceof Readable)) return { headers, payload: Readable.from(body) };
  return { headers, payload: body as string | Uint8Array | Readable };
}

/** The headers of every request and websocket handshake: the user agent, then the caller's, names in lower case. */
export function clientHeaders(userAgent: string, given: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': userAgent };
  if (given) for (const name of Object.keys(given)) headers[name.toLowerCase()] = given[name] as string;
  return headers;
}

function serialise(json: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(json);
  } catch (error) {
    throw new TypeError(`the json option is not serialisable as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new TypeError(`the json option is not serialisable as JSON: got ${typeof json}`);
  return text;
}

/**
 * The body for one attempt: undici destroys the stream body of a request that could not connect,
 * so while another cluster member may still be tried, a stream is handed over through a wrapper
 * that starts reading it only once it is read itself (once a member is connected to).
 */
export function bodyForAttempt(payload: Payload, last: boolean): NonNullable<Payload> | null {
  if (!(payload instanceof Readable) || last) return payload ?? null;
  return Readable.from(
    (async function* () {
      for await (const chunk of payload) yield chunk;
    })(),
  );
}

import type { Dispatcher } from 'undici';
import { dumpJson } from './debug.ts';
import { bodyStart, type ResultFields } from './result.ts';
import type { Envelope } from './types.ts';

/** Past the response limit: the body was dropped unread. */
export const TOO_LARGE = Symbol('too large');

// Skips a leading byte order mark, as undici's text() does.
const UTF8 = new TextDecoder();

/**
 * The whole body as UTF-8 text (`text: true`, a leading BOM skipped) or as bytes, or `TOO_LARGE`
 * past `limit` bytes (the connection is then dropped).
 */
export function readBody(body: Dispatcher.ResponseData['body'], limit: number, text: boolean): Promise<string | Uint8Array | typeof TOO_LARGE> {
  // Uncapped: undici's own readers, without an async iterator's promise per chunk (and, being no
  // async function, without one more promise to adopt). `text()` decodes the socket's chunks in
  // place; `bytes()` would first copy them into a new buffer.
  if (limit === Number.POSITIVE_INFINITY) {
    if (text) return body.text();
    return body.bytes().then((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return readCapped(body, limit, text);
}

async function readCapped(body: Dispatcher.ResponseData['body'], limit: number, text: boolean): Promise<string | Uint8Array | typeof TOO_LARGE> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) {
      body.destroy();
      return TOO_LARGE;
    }
    chunks.push(chunk as Buffer);
  }
  const whole = Buffer.concat(chunks, size);
  return text ? UTF8.decode(whole) : whole;
}

/**
 * What a buffered response is: an LXD envelope, raw bytes, or a problem that `validate()` turns
 * into an `APIException`. A JSON response comes as text, any other as bytes.
 */
export function parse(
  request: ResultFields['request'],
  response: ResultFields['response'],
  method: string,
  contentType: string,
  content: string | Uint8Array | typeof TOO_LARGE,
  limit: number,
): ResultFields {
  if (content === TOO_LARGE) {
    return { request, response, problem: { message: `response larger than maxResponseBytes (${limit} bytes); use stream: true for large downloads` } };
  }
  if (typeof content !== 'string') {
    const empty = content.byteLength === 0 && method !== 'HEAD' && response.status !== 204;
    if (empty && contentType === '') return { request, response, body: content, problem: { message: 'empty response body where an LXD JSON envelope was expected' } };
    if (/text\/html/i.test(contentType)) {
      return { request, response, body: content, problem: { message: `expected an LXD JSON response, got ${contentType}: ${bodyStart(content)}` } };
    }
    return { request, response, body: content };
  }
  // The bytes of a JSON body are kept only when it is not a usable envelope, for the error.
  if (content === '') return { request, response, body: Buffer.alloc(0), problem: { message: 'empty response body where an LXD JSON envelope was expected' } };
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (error) {
    return { request, response, body: Buffer.from(content), problem: { message: `invalid JSON in the response (${(error as Error).message}): ${bodyStart(content)}`, cause: error } };
  }
  if (!isEnvelope(data)) {
    return { request, response, body: Buffer.from(content), problem: { message: `the response is not an LXD envelope (no type sync, async or error): ${dumpJson(data, 0).slice(0, 200)}` } };
  }
  if (data.type === 'async' && !data.operation && response.headers.location === undefined) {
    return { request, response, data, problem: { message: 'async response without an operation URL' } };
  }
  return { request, response, data };
}

/** Whether parsed JSON is an LXD envelope: an object whose `type` is sync, async or error. */
export function isEnvelope(data: unknown): data is Envelope {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const type = (data as { type?: unknown }).type;
  return type === 'sync' || type === 'async' || type === 'error';
}

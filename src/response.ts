import type { Dispatcher } from 'undici';
import { dumpJson } from './debug.ts';
import { bodyStart, type ResultFields } from './result.ts';
import type { Envelope } from './types.ts';

/** The whole body, or 'too large' past `limit` bytes (the connection is then dropped). */
export async function readBody(body: Dispatcher.ResponseData['body'], limit: number): Promise<Uint8Array | 'too large'> {
  // Uncapped: undici's own reader, without an async iterator's promise per chunk.
  if (limit === Number.POSITIVE_INFINITY) return body.bytes().then((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) {
      body.destroy();
      return 'too large';
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** What a buffered response is: an LXD envelope, raw bytes, or a problem that `validate()` turns into an `APIException`. */
export function parse(
  request: ResultFields['request'],
  response: ResultFields['response'],
  method: string,
  contentType: string,
  json: boolean,
  bytes: Uint8Array | 'too large',
  limit: number,
): ResultFields {
  if (bytes === 'too large') {
    return { request, response, problem: { message: `response larger than maxResponseBytes (${limit} bytes); use stream: true for large downloads` } };
  }
  if (!json) {
    const empty = bytes.byteLength === 0 && method !== 'HEAD' && response.status !== 204;
    if (empty && contentType === '') return { request, response, body: bytes, problem: { message: 'empty response body where an LXD JSON envelope was expected' } };
    if (/text\/html/i.test(contentType)) {
      return { request, response, body: bytes, problem: { message: `expected an LXD JSON response, got ${contentType}: ${bodyStart(bytes)}` } };
    }
    return { request, response, body: bytes };
  }
  if (bytes.byteLength === 0) return { request, response, body: bytes, problem: { message: 'empty response body where an LXD JSON envelope was expected' } };
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    return { request, response, body: bytes, problem: { message: `invalid JSON in the response (${(error as Error).message}): ${bodyStart(bytes)}`, cause: error } };
  }
  if (!isEnvelope(data)) {
    return { request, response, body: bytes, problem: { message: `the response is not an LXD envelope (no type sync, async or error): ${dumpJson(data, 0).slice(0, 200)}` } };
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

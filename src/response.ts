// What came back: the body read (capped or not) and parsed into an envelope, raw bytes or a problem.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { dumpJson } from './redact.ts';
import type { Envelope } from './types.ts';

/** What was sent, as `APIResult.request` keeps it (headers redacted). */
export interface RequestRecord {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The `json` option's value; raw bodies are not kept. */
  body?: unknown;
  /** The raw body as it was passed, for its size in summaries. */
  raw?: unknown;
}

/** What came back, before parsing. */
export interface ResponseRecord {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** One transaction, as an `APIResult` is built from it. */
export interface ResultFields {
  /** The endpoint (the cluster member) that answered. @default the connection's endpoint */
  endpoint?: string;
  request: RequestRecord;
  response: ResponseRecord;
  data?: Envelope | undefined;
  body?: Uint8Array | undefined;
  stream?: Readable | undefined;
  /** Why the response is not a usable LXD answer, when it is not. */
  problem?: { message: string; cause?: unknown } | undefined;
}

/** Whether a content type is JSON's. */
export function isJson(contentType: string): boolean {
  return contentType === 'application/json' || /\bjson\b/i.test(contentType);
}

/** Past the response limit: the body was dropped unread. */
export const TOO_LARGE = Symbol('too large');

// Skips a leading byte order mark, as undici's text() does.
const UTF8 = new TextDecoder();

/**
 * The whole body as UTF-8 text (`text: true`, a leading BOM skipped) or as bytes, or `TOO_LARGE`
 * past `limit` bytes (the connection is then dropped).
 */
export function readBody(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  text: boolean,
): Promise<string | Uint8Array | typeof TOO_LARGE> {
  // Uncapped: undici's own readers, without an async iterator's promise per chunk (and, being no
  // async function, without one more promise to adopt). `text()` decodes the socket's chunks in
  // place; `bytes()` would first copy them into a new buffer.
  if (limit === Number.POSITIVE_INFINITY) {
    if (text) return body.text();
    return body.bytes().then((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return readCapped(body, limit, text);
}

async function readCapped(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  text: boolean,
): Promise<string | Uint8Array | typeof TOO_LARGE> {
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
  fields: { endpoint: string; request: RequestRecord; response: ResponseRecord },
  contentType: string,
  content: string | Uint8Array | typeof TOO_LARGE,
  limit: number,
): ResultFields {
  const { endpoint, request, response } = fields;
  if (content === TOO_LARGE) {
    const message = `response larger than maxResponseBytes (${limit} bytes); use stream: true for large downloads`;
    return { endpoint, request, response, problem: { message } };
  }
  if (typeof content !== 'string') {
    const empty = content.byteLength === 0 && request.method !== 'HEAD' && response.status !== 204;
    if (empty && contentType === '') return { endpoint, request, response, body: content, problem: { message: EMPTY } };
    if (/text\/html/i.test(contentType)) {
      const message = `expected an LXD JSON response, got ${contentType}: ${bodyStart(content)}`;
      return { endpoint, request, response, body: content, problem: { message } };
    }
    return { endpoint, request, response, body: content };
  }
  // The bytes of a JSON body are kept only when it is not a usable envelope, for the error.
  if (content === '') return { endpoint, request, response, body: Buffer.alloc(0), problem: { message: EMPTY } };
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (error) {
    const message = `invalid JSON in the response (${(error as Error).message}): ${bodyStart(content)}`;
    return { endpoint, request, response, body: Buffer.from(content), problem: { message, cause: error } };
  }
  if (!isEnvelope(data)) {
    const start = dumpJson(data, 0).slice(0, 200);
    const message = `the response is not an LXD envelope (no type sync, async or error): ${start}`;
    return { endpoint, request, response, body: Buffer.from(content), problem: { message } };
  }
  if (data.type === 'async' && !data.operation && response.headers.location === undefined) {
    return { endpoint, request, response, data, problem: { message: 'async response without an operation URL' } };
  }
  return { endpoint, request, response, data };
}

const EMPTY = 'empty response body where an LXD JSON envelope was expected';

/** Whether parsed JSON is an LXD envelope: an object whose `type` is sync, async or error. */
export function isEnvelope(data: unknown): data is Envelope {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const type = (data as { type?: unknown }).type;
  return type === 'sync' || type === 'async' || type === 'error';
}

/** The first 200 characters of a body that is not an LXD answer, on one line. */
export function bodyStart(body: Uint8Array | string): string {
  const text =
    typeof body === 'string'
      ? body.slice(0, 800)
      : Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, 800)).toString('utf8');
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

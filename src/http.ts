// One HTTP request over a transport, from the verbs' arguments to the transaction's fields: the path,
// headers and body, the deadline and the caller's signal, the members in turn, the body read and parsed.
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type AbortLink, linkAbort } from './abort.ts';
import { bodyForAttempt, encodeBody } from './body.ts';
import { connectionError, timeoutCause } from './hints.ts';
import type { Logger } from './log.ts';
import type { RequestOptions, Settings } from './options.ts';
import { describeBytes, dumpJson, redactHeaders, redactUrl } from './redact.ts';
import { isJson, parse, type RequestRecord, type ResultFields, readBody } from './response.ts';
import type { Transport } from './transport.ts';
import { checkMethod, requestPath } from './url.ts';

// How much longer than a long poll the client waits for LXD's answer.
const LONG_POLL_MARGIN_MS = 30_000;

/**
 * Sends one request and returns what came back, unvalidated. Rejects with a `TypeError` for bad
 * arguments (before anything is sent), with `APIConnectionError` when no member answered or the
 * answer could not be read, and with the signal's reason when the caller aborted.
 */
export async function send(
  transport: Transport,
  settings: Settings,
  log: Logger,
  method: string,
  url: string,
  options: RequestOptions,
): Promise<ResultFields> {
  const verb = checkMethod(method);
  const path = requestPath(transport.pool.current, settings, url, options.query, options.target);
  const { headers, payload } = encodeBody(options, settings.userAgent);
  const deadline = options.timeout ?? (options.serverTimeout === undefined ? settings.timeout : undefined);
  const abort = linkAbort(options.signal, deadline);
  const longPoll = longPollTimeout(options.serverTimeout);
  const { signal } = options;
  try {
    if (signal?.aborted) throw signal.reason;
    let endpoint = transport.pool.current;
    let response: Dispatcher.ResponseData;
    try {
      response = await transport.pool.each(
        (member, last) => {
          endpoint = member;
          if (log.enabled) log('%s %s%s', verb, redactUrl(member + path), describeRequestBody(options));
          return transport.dispatcher.request({
            origin: transport.socketPath ? 'http://lxd' : member,
            path,
            method: verb as Dispatcher.HttpMethod,
            headers,
            body: bodyForAttempt(payload, last),
            signal: abort.signal,
            headersTimeout: longPoll,
            bodyTimeout: longPoll,
          });
        },
        () => !abort.timedOut && !signal?.aborted,
        log,
      );
    } catch (error) {
      if (payload instanceof Readable) payload.destroy();
      throw failure({
        transport,
        verb,
        url: endpoint + path,
        endpoint,
        answered: false,
        error,
        signal,
        abort,
        deadline,
      });
    }
    const request: RequestRecord = { method: verb, url: endpoint + path, headers: redactHeaders(headers) };
    if (options.json !== undefined) request.body = options.json;
    if (options.body !== undefined) request.raw = options.body;
    const record = { status: response.statusCode, headers: response.headers };
    const contentType = String(response.headers['content-type'] ?? '');
    const json = isJson(contentType);
    if (options.stream && !json && response.statusCode < 400) {
      abort.keepUntil(response.body);
      return { endpoint, request, response: record, stream: response.body };
    }
    let content: Awaited<ReturnType<typeof readBody>>;
    try {
      content = await readBody(response.body, settings.maxResponseBytes, json);
    } catch (error) {
      throw failure({
        transport,
        verb,
        url: endpoint + path,
        endpoint,
        answered: true,
        error,
        signal,
        abort,
        deadline,
      });
    }
    return parse({ endpoint, request, response: record }, contentType, content, settings.maxResponseBytes);
  } finally {
    abort.done();
  }
}

interface Failure {
  transport: Transport;
  verb: string;
  url: string;
  endpoint: string;
  /** Whether the response headers had arrived. */
  answered: boolean;
  error: unknown;
  signal: AbortSignal | undefined;
  abort: AbortLink;
  deadline: number | undefined;
}

/** What to reject with when a member could not be used, or its answer not read. */
function failure(what: Failure): unknown {
  if (what.signal?.aborted) return what.signal.reason;
  const cause = what.abort.timedOut ? timeoutCause(what.deadline) : what.error;
  const { socketPath, pinned, clientCert } = what.transport;
  const { verb: method, url, endpoint, answered } = what;
  const tls = endpoint.startsWith('https:');
  return connectionError(cause, { method, url, endpoint, socketPath, pinned, clientCert, answered, tls });
}

function describeRequestBody(options: RequestOptions): string {
  if (options.json !== undefined) return `\n${dumpJson(options.json)}`;
  if (options.body !== undefined) return `\n${describeBytes(options.body)}`;
  return '';
}

/**
 * undici's header and body timeout for a request the server may hold `seconds`: null keeps undici's defaults, 0
 * lifts them.
 */
function longPollTimeout(seconds: number | undefined): number | null {
  if (seconds === undefined) return null;
  return seconds < 0 ? 0 : seconds * 1000 + LONG_POLL_MARGIN_MS;
}

// Whether a transaction is a failure, and the server's own words for it. Pure: result.ts turns the
// text into the APIException.
import { dumpJson } from './redact.ts';
import { bodyStart } from './response.ts';

/** What `validate()` looks at. */
export interface Answer {
  readonly status: number;
  readonly data: unknown;
  readonly body: Uint8Array | undefined;
  readonly problem: { message: string; cause?: unknown } | undefined;
}

/**
 * Why the answer is a failure, or undefined: an HTTP status >= 400 or an error envelope whatever the
 * status line says (with the server's `error`, else the failing metadata's `err`, else the response
 * itself), a response that is not an LXD answer, or a `status_code` >= 400 down the metadata chain
 * (a failed operation).
 */
export function failureOf(answer: Answer): { text: string; cause?: unknown } | undefined {
  // Incus reports some failures (a failed operation's /wait) as an error envelope behind HTTP 200.
  const envelope = isRecord(answer.data) && answer.data.type === 'error';
  if (answer.status >= 400 || envelope) return { text: errorText(answer) };
  if (answer.problem) return { text: answer.problem.message, cause: answer.problem.cause };
  if (answer.data === undefined) return undefined;
  const err = metadataError(answer.data);
  return err === undefined ? undefined : { text: err };
}

/**
 * The `err` of the first object down the `metadata` chain (envelope, operation, the operation's own
 * metadata, ...) whose `status_code` is >= 400, the chain as JSON when it has none; undefined when
 * none failed. A loop, not recursion: depth is no limit.
 */
export function metadataError(data: unknown): string | undefined {
  for (let current = data; isRecord(current) && isRecord(current.metadata); current = current.metadata) {
    const metadata = current.metadata;
    if (typeof metadata.status_code === 'number' && metadata.status_code >= 400) {
      return typeof metadata.err === 'string' && metadata.err !== '' ? metadata.err : dumpJson(data, 0);
    }
  }
  return undefined;
}

function errorText(answer: Answer): string {
  const data = answer.data;
  if (isRecord(data)) {
    if (typeof data.error === 'string' && data.error !== '') return data.error;
    if (isRecord(data.metadata) && typeof data.metadata.err === 'string' && data.metadata.err !== '') {
      return data.metadata.err;
    }
    return dumpJson(data, 0);
  }
  if (answer.body && answer.body.byteLength > 0) return bodyStart(answer.body);
  return answer.problem?.message ?? `HTTP ${answer.status} with an empty body`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

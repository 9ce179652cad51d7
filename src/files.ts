// Instance files, one way for LXD and Incus alike: LXD names the file headers X-LXD-*, Incus
// X-Incus-* (and takes X-LXD-* in requests too), so pushes send X-LXD-* and pulls read either.
import type { Readable } from 'node:stream';
import type { RequestOptions } from './options.ts';
import type { APIResult, Connection } from './result.ts';
import { requireExtension } from './server.ts';

/** What `api.pushFile()` writes: a file's bytes, a symlink's target, nothing for a directory. */
export type PushContent = string | Uint8Array | Readable | AsyncIterable<Uint8Array> | undefined;

/** Options of `api.pushFile()`. */
export interface PushFileOptions {
  /** Permission bits, e.g. `0o640`. @default the server's (0644 for a new file) */
  mode?: number;
  uid?: number;
  gid?: number;
  /** `symlink`: the body is the link's target. `directory`: no body. @default 'file' */
  type?: 'file' | 'directory' | 'symlink';
  /** `append` adds to the end of an existing file. @default 'overwrite' */
  write?: 'overwrite' | 'append';
  signal?: AbortSignal;
}

/** What `api.pullFile()` resolves with. */
export interface PulledFile {
  /** The transaction, with the raw headers. */
  readonly result: APIResult;
  readonly type: 'file' | 'directory' | 'symlink' | undefined;
  /** Permission bits, e.g. `0o640`. */
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  /** A file's (or a link's target's) bytes; undefined with `stream: true` and for a directory. */
  readonly body: Uint8Array | undefined;
  /** With `stream: true`, the unread content. */
  readonly stream: Readable | undefined;
  /** A directory's entries. */
  readonly entries: string[] | undefined;
}

function filesPath(api: Connection, instance: string): string {
  return `/${api.defaultVersion}/instances/${encodeURIComponent(instance)}/files`;
}

/** `POST /1.0/instances/<instance>/files?path=<path>`: writes a file, a directory or a symlink. */
export async function pushFile(
  api: Connection,
  instance: string,
  path: string,
  content: PushContent,
  options: PushFileOptions = {},
): Promise<APIResult> {
  const headers: Record<string, string> = { 'x-lxd-type': options.type ?? 'file' };
  if (options.mode !== undefined) headers['x-lxd-mode'] = options.mode.toString(8).padStart(4, '0');
  if (options.uid !== undefined) headers['x-lxd-uid'] = String(options.uid);
  if (options.gid !== undefined) headers['x-lxd-gid'] = String(options.gid);
  if (options.write !== undefined) headers['x-lxd-write'] = options.write;
  if (options.type === 'symlink') requireExtension(await api.server(), 'file_symlinks', 'a symlink push', api.endpoint);
  if (options.write === 'append') requireExtension(await api.server(), 'file_append', 'an append', api.endpoint);
  const request: RequestOptions = { query: { path }, headers, body: content ?? '' };
  if (options.signal) request.signal = options.signal;
  return api.request('POST', filesPath(api, instance), request);
}

/**
 * `GET /1.0/instances/<instance>/files?path=<path>`: a file's content, or a directory's entries,
 * with their owner and mode.
 */
export async function pullFile(
  api: Connection,
  instance: string,
  path: string,
  options: { stream?: boolean; signal?: AbortSignal } = {},
): Promise<PulledFile> {
  const request: RequestOptions = { query: { path } };
  if (options.stream) request.stream = true;
  if (options.signal) request.signal = options.signal;
  const result = await api.request('GET', filesPath(api, instance), request);
  const headers = result.response.headers;
  const header = (name: string) => {
    const value = headers[`x-incus-${name}`] ?? headers[`x-lxd-${name}`];
    return Array.isArray(value) ? value[0] : value;
  };
  const number = (name: string, radix: number) => {
    const value = header(name);
    return value === undefined || value === '' ? undefined : Number.parseInt(value, radix);
  };
  const type = header('type');
  return {
    result,
    type: type === 'file' || type === 'directory' || type === 'symlink' ? type : undefined,
    mode: number('mode', 8),
    uid: number('uid', 10),
    gid: number('gid', 10),
    body: result.body,
    stream: result.stream,
    entries: Array.isArray(result.metadata) ? (result.metadata as string[]) : undefined,
  };
}

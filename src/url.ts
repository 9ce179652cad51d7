// Request paths: a url as the verbs take it, with its query, to the path sent on the wire. Pure.
import { redactUrl } from './redact.ts';
import type { Query } from './routes.ts';

/** What a path is resolved against besides the endpoint: the version and the API's own query defaults. */
export interface PathDefaults {
  readonly defaultVersion: string;
  readonly project: string | undefined;
  readonly target: string | undefined;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
// A `.` or `..` segment, also percent-encoded.
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The method in upper case, or a TypeError naming the ones there are. */
export function checkMethod(method: string): string {
  if (METHODS.has(method)) return method;
  const verb = typeof method === 'string' ? method.toUpperCase() : '';
  if (!METHODS.has(verb)) {
    throw new TypeError(`unknown HTTP method ${String(method)}; use one of ${[...METHODS].join(', ')}`);
  }
  return verb;
}

/**
 * `'instances'` becomes `/1.0/instances`, a path starting with `/` is kept, a full URL on the
 * endpoint loses the endpoint; `query`, the request's `target` and the API's `project` and `target`
 * are merged onto the url's own query, the url's and the request's values winning.
 */
export function requestPath(endpoint: string, base: PathDefaults, url: string, query?: Query, target?: string): string {
  if (typeof url !== 'string') throw new TypeError(`url must be a string, got ${typeof url}`);
  let rest = url;
  if (!rest.startsWith('/') && SCHEME.test(rest)) {
    if (!rest.startsWith(`${endpoint}/`)) {
      throw new TypeError(`${redactUrl(url)} is not on this API's endpoint ${endpoint}`);
    }
    rest = rest.slice(endpoint.length);
  }
  const queryAt = rest.indexOf('?');
  let path = queryAt === -1 ? rest : rest.slice(0, queryAt);
  if (!path.startsWith('/')) path = path === '' ? `/${base.defaultVersion}` : `/${base.defaultVersion}/${path}`;
  if ((path.includes('/.') || path.includes('/%')) && DOT_SEGMENT.test(path)) {
    throw new TypeError(`${redactUrl(url)}: '.' and '..' segments are not allowed in a url`);
  }
  const own = queryAt === -1 ? '' : rest.slice(queryAt + 1);
  const defaults = { project: base.project, target: base.target };
  return withQuery(path, own, target === undefined ? query : { ...query, target }, defaults);
}

/**
 * `<operation><suffix>`, keeping the operation URL's own query (a cluster member's forwarded
 * operations carry `?project=`), plus `params`: `/1.0/operations/<id>/wait?project=default`.
 */
export function operationPath(url: string, suffix: string, params?: Query): string {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return withQuery(`${url}${suffix}`, '', params);
  return withQuery(`${url.slice(0, queryAt)}${suffix}`, url.slice(queryAt + 1), params);
}

/**
 * `path?query`: the url's own query, then `values` (set over it), then `defaults` where neither
 * named them. The one query encoder (URLSearchParams); values must be strings, numbers or booleans.
 */
export function withQuery(path: string, own: string, values?: Query, defaults?: Query): string {
  if (own === '' && isEmpty(values) && isEmpty(defaults)) return path;
  const params = new URLSearchParams(own);
  for (const [name, value] of Object.entries(values ?? {})) {
    if (value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      const type = value === null ? 'null' : typeof value;
      throw new TypeError(`query parameter ${name} must be a string, number or boolean, got ${type}`);
    }
    params.set(name, String(value));
  }
  for (const [name, value] of Object.entries(defaults ?? {})) {
    if (value !== undefined && !params.has(name)) params.set(name, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

function isEmpty(query: Query | undefined): boolean {
  for (const name in query) if (query[name] !== undefined) return false;
  return true;
}

// The truth check of the generated types (issue 8): during the end-to-end
// suites every JSON response of the real LXD (or Incus) is checked against the
// JSON Schema that scripts/gen-types.ts writes from that server's own API description
// (test/helpers/schema.ts, ajv). No hook in the library: the APIs the suites
// build through ./helpers.ts send their requests through a dispatcher
// composed with `schemaCheck`, an undici interceptor that tees each JSON
// response body. Each e2e file runs in its own process, so each one reports
// its own problems: importing this module registers a root `after` hook that
// fails the file when a response did not match, unless the problem is in
// `ALLOWED`, with its reason.
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { after, type TestContext } from 'node:test';
import { DecoratorHandler, type Dispatcher } from 'undici';
import { API, type APIOptions } from '../../src/index.ts';
import { checkResponse, matchRoute, schemaFile } from '../helpers/schema.ts';

/** One response that did not match its documented type. */
export interface SchemaProblem {
  method: string;
  /** The request path, query included. */
  path: string;
  /** The documented route it resolved to, e.g. `/1.0/instances/{name}`. */
  route: string | undefined;
  problem: string;
}

/**
 * Problems that are not mistakes of the generated types, each with why.
 * An entry matches on the problem text and, when given, the verb, the
 * documented route and the server of the run (LXD_TEST_SERVER). Keep it
 * short: a field the server sends and the types lack belongs in
 * scripts/gen-types.ts' corrections, not here.
 */
export const ALLOWED: ReadonlyArray<{
  server?: 'lxd' | 'incus';
  method?: string;
  route?: string;
  problem: RegExp;
  reason: string;
}> = [
  {
    problem: /^envelope: error response /,
    reason:
      "an error envelope carries no response type: the route's documented metadata is the success answer's (the error fields are checked by the suites' own assertions)",
  },
];

const server = process.env.LXD_TEST_SERVER === 'incus' ? 'incus' : 'lxd';

const problems: SchemaProblem[] = [];
const allowed = new Map<string, { count: number; reason: string }>();
let responses = 0;

function record(method: string, path: string, found: string[]): void {
  const route = matchRoute(path);
  for (const problem of found) {
    const entry = ALLOWED.find(
      (a) =>
        a.problem.test(problem) &&
        (a.server === undefined || a.server === server) &&
        (a.method === undefined || a.method === method) &&
        (a.route === undefined || a.route === route),
    );
    if (entry) {
      const key = `${method} ${route ?? path}: ${problem}`;
      const seen = allowed.get(key) ?? { count: 0, reason: entry.reason };
      seen.count++;
      allowed.set(key, seen);
    } else {
      problems.push({ method, path, route, problem });
    }
  }
}

type Handler = Required<
  Pick<
    Dispatcher.DispatchHandler,
    'onRequestStart' | 'onRequestUpgrade' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'
  >
>;

/** Passes everything on to the caller's handler, keeping a copy of a JSON body to check at its end. */
class Tee implements Dispatcher.DispatchHandler {
  readonly #method: string;
  readonly #path: string;
  // undici's adapter from either handler API (onHeaders/onData/onComplete or onResponse*) to the onResponse* one.
  readonly #inner: Handler;
  #json = false;
  #chunks: Buffer[] = [];

  constructor(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.#method = opts.method;
    this.#path = opts.path;
    this.#inner = new DecoratorHandler(handler) as unknown as Handler;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#inner.onRequestStart(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.#inner.onRequestUpgrade(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const type = headers['content-type'];
    this.#json = /^application\/json\b/i.test(Array.isArray(type) ? (type[0] ?? '') : (type ?? ''));
    this.#chunks = [];
    this.#inner.onResponseStart(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#json) this.#chunks.push(chunk);
    this.#inner.onResponseData(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.#json) {
      responses++;
      try {
        record(
          this.#method,
          this.#path,
          checkResponse(this.#method, this.#path, undefined, Buffer.concat(this.#chunks).toString('utf8')),
        );
      } catch (error) {
        record(this.#method, this.#path, [`the check threw: ${String(error)}`]);
      }
      this.#chunks = [];
    }
    this.#inner.onResponseEnd(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#chunks = [];
    this.#inner.onResponseError(controller, error);
  }
}

/**
 * The interceptor: for `dispatcher.compose(schemaCheck)`. Upgrades
 * (websockets, events), CONNECT and HEAD pass through untouched.
 */
export const schemaCheck: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  if (opts.upgrade || opts.method === 'CONNECT' || opts.method === 'HEAD') return dispatch(opts, handler);
  return dispatch(opts, new Tee(opts, handler));
};

// The APIs whose responses are already checked.
const checkedApis = new WeakSet<API>();

/** An API whose `close()` also closes the composed dispatcher (which is the agent `factory()` built). */
class CheckedAPI extends API {
  override async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** `API.factory(endpoint, options)`, with every response checked. `close()` releases its connections. */
export function checkedFactory(endpoint: string, options: Omit<APIOptions, 'dispatcher'> = {}): API {
  const base = API.factory(endpoint, options);
  const api = new CheckedAPI(base.dispatcher.compose(schemaCheck), base.endpoint, options);
  checkedApis.add(api);
  return api;
}

/**
 * The same server as `api`, through its dispatcher, with every response
 * checked. `api` keeps its connections; closing it closes them. The
 * connection-error hints that depend on how `factory()` built `api` (the
 * pinned fingerprint, whether a client certificate was given) are not
 * carried over: use the result where those are not asserted.
 */
export function checked(api: API): API {
  if (checkedApis.has(api)) return api;
  const options: APIOptions = {
    waitTimeout: api.waitTimeout,
    maxResponseBytes: api.maxResponseBytes,
    userAgent: api.userAgent,
    defaultVersion: api.defaultVersion,
  };
  if (api.project !== undefined) options.project = api.project;
  if (api.target !== undefined) options.target = api.target;
  if (api.timeout !== undefined) options.timeout = api.timeout;
  const wrapped = new API(api.dispatcher.compose(schemaCheck), api.endpoint, options);
  checkedApis.add(wrapped);
  return wrapped;
}

/** The problems of this process so far (not allowed ones), one line each. */
export function schemaProblems(): string[] {
  return problems.map(
    (p) => `${p.method} ${p.path}${p.route && p.route !== p.path.split('?')[0] ? ` (${p.route})` : ''}: ${p.problem}`,
  );
}

/** Throws with every problem that `ALLOWED` does not excuse. */
export function assertNoSchemaProblems(): void {
  const lines = [...new Set(schemaProblems())];
  if (lines.length > 0) {
    throw new Error(
      `${lines.length} response(s) of the real ${server === 'incus' ? 'Incus' : 'LXD'} contradict the generated types (${schemaFile}):\n  ${lines.join('\n  ')}`,
    );
  }
}

// Only in a test file's process: a child the suites spawn (test/e2e/fixtures)
// imports ./helpers.ts too, and a node:test hook would print a test report on
// its stdout, which the suite reads.
if (/\.test\.[cm]?[jt]s$/.test(process.argv[1] ?? '')) {
  after((context) => {
    // The root test's hook: a TestContext, which can write diagnostics.
    const t = context as TestContext;
    if (responses > 0)
      t.diagnostic(
        `schema check: ${responses} JSON responses checked, ${problems.length} problem(s), ${allowed.size} allowed`,
      );
    for (const [key, { count, reason }] of allowed) t.diagnostic(`schema check allowed (${count}x) ${key}: ${reason}`);
    assertNoSchemaProblems();
  });
}

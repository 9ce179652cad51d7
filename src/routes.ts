/**
 * Type-level routing: from a method and a url (as given to the client's
 * verbs) to the documented response metadata, request body and query
 * parameters of the server's REST API.
 *
 * The route data is generated from each server's own API description into
 * `./generated/lxd-routes.ts` (`LxdRoutes`, `LxdRouteTrie`: LXD 5.0) and
 * `./generated/incus-routes.ts` (`IncusRoutes`, `IncusRouteTrie`: Incus 6.0);
 * every type here takes the server's {@link ServerKind} last, `'lxd'` by
 * default (`API<'incus'>` passes `'incus'`). Matching walks the
 * url's path segments down a segment trie: at each step a literal segment
 * (`state`) beats a `{param}` segment, a `{param}` never matches a `/` nor an
 * empty segment, and the segment count must be exact. So
 * `'instances/c1/state'` resolves to `/1.0/instances/{name}/state`, not
 * `/1.0/instances/{name}`. The walk is linear in the number of segments and
 * never iterates over the route list, which keeps `tsc` fast.
 *
 * Urls may be relative to `/1.0` (`'instances'`, `` `instances/${name}` ``),
 * absolute (`'/1.0/instances'`), and may carry a query string
 * (`'instances?recursion=1'`). A url that matches no route gives `unknown`.
 *
 * @module
 */
import type { IncusRoutes, IncusRouteTrie } from './generated/incus-routes.ts';
import type { LxdRoutes, LxdRouteTrie } from './generated/lxd-routes.ts';

/**
 * Whose routes and shapes the types describe: `'lxd'` (LXD 5.0's description, the default) or
 * `'incus'` (Incus 6.0's). Incus 6.0 describes every route LXD 5.0 does, so the default types
 * serve both servers; `'incus'` adds Incus's own routes and fields.
 */
export type ServerKind = 'lxd' | 'incus';

/** The generated route map and segment trie of each server. */
interface RouteSets {
  lxd: { routes: LxdRoutes; trie: LxdRouteTrie };
  incus: { routes: IncusRoutes; trie: IncusRouteTrie };
}

type Routes<S extends ServerKind> = RouteSets[S]['routes'];

/** What every generated route entry holds (see the generated route maps). */
interface RouteShape {
  query: object;
  body: unknown;
  response: unknown;
  recursion?: object;
  async: boolean;
}

/** HTTP methods of the client's verbs. */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A query parameter value; `undefined` values are left out of the url. */
export type QueryValue = string | number | boolean | undefined;

/** Query parameters of a request. */
export type Query = { readonly [name: string]: QueryValue };

/** No query parameters: the default of the verbs' query type parameter. */
export type NoQuery = Record<never, never>;

/** Every documented route key of the server's API, e.g. `'/1.0/instances/{name}'`. */
export type RouteKey<S extends ServerKind = 'lxd'> = keyof Routes<S> & string;

type StripQuery<U extends string> = U extends `${infer P}?${string}` ? P : U;

type AbsolutePath<P extends string> = P extends `/${string}` ? P : P extends '' ? '/1.0' : `/1.0/${P}`;

type Split<S extends string> = S extends `${infer H}/${infer R}` ? [H, ...Split<R>] : [S];

type Segments<P extends string> = P extends '/' ? [] : P extends `/${infer R}` ? Split<R> : never;

/** One step down the trie: a literal child if there is one, else the `{param}` child. */
type Step<Node, S extends string> = S extends '$' | '*' | ''
  ? S extends ''
    ? never
    : ParamChild<Node>
  : S extends keyof Node
    ? Node[S]
    : ParamChild<Node>;

type ParamChild<Node> = Node extends { '*': infer C } ? C : never;

type Walk<Node, Segs> = Segs extends [infer H extends string, ...infer R]
  ? Walk<Step<Node, H>, R>
  : Node extends { $: infer K extends string }
    ? K
    : never;

/**
 * The route key that url `U` resolves to (`never` when none, or when `U` is
 * just `string`).
 *
 * @example
 * type K = MatchRoute<'instances/c1/state'>; // '/1.0/instances/{name}/state'
 */
export type MatchRoute<U extends string, S extends ServerKind = 'lxd'> = string extends U
  ? never
  : Walk<RouteSets[S]['trie'], Segments<AbsolutePath<StripQuery<U>>>>;

/** The generated route entry for method `M` and url `U` (`never` when none). */
export type RouteEntry<M extends Method, U extends string, S extends ServerKind = 'lxd'> =
  MatchRoute<U, S> extends infer K
    ? K extends keyof Routes<S>
      ? M extends keyof Routes<S>[K]
        ? Routes<S>[K][M] extends infer E extends RouteShape
          ? E
          : never
        : never
      : never
    : never;

type UrlRecursion<U extends string> = U extends `${string}?${infer QS}`
  ? QS extends `${string}recursion=2${string}`
    ? 2
    : QS extends `${string}recursion=1${string}`
      ? 1
      : QS extends `${string}recursion=0${string}`
        ? 0
        : undefined
  : undefined;

/** The recursion level asked for: `query.recursion` wins over the url's query string. */
type RecursionOf<U extends string, Q> = Q extends {
  readonly recursion?: infer R;
}
  ? unknown extends R
    ? UrlRecursion<U>
    : R
  : UrlRecursion<U>;

type Levels<E> = E extends { recursion: infer V } ? V : Record<never, never>;

type HighestLevel<V> = 2 extends keyof V ? V[2] : 1 extends keyof V ? V[1] : never;

type ByRecursion<E extends { response: unknown }, R> = R extends undefined | 0 | '0' | false
  ? E['response']
  : R extends 1 | '1'
    ? 1 extends keyof Levels<E>
      ? Levels<E>[1]
      : E['response']
    : R extends 2 | '2'
      ? 2 extends keyof Levels<E>
        ? Levels<E>[2]
        : 1 extends keyof Levels<E>
          ? Levels<E>[1]
          : E['response']
      : R extends number | string | true
        ? number extends R
          ? E['response'] | Levels<E>[keyof Levels<E>]
          : string extends R
            ? E['response'] | Levels<E>[keyof Levels<E>]
            : [HighestLevel<Levels<E>>] extends [never]
              ? E['response']
              : HighestLevel<Levels<E>>
        : E['response'];

/**
 * Type of the response `metadata` for method `M` on url `U` with query
 * parameters `Q`; `Q['recursion']` (or `recursion=N` in the url's query
 * string) picks the documented recursion variant. `unknown` when no route
 * matches or the response is not documented as JSON.
 *
 * @example
 * type A = RouteMetadata<'GET', 'instances', {}>;                  // string[]
 * type B = RouteMetadata<'GET', 'instances', { recursion: 1 }>;    // Instance[]
 * type C = RouteMetadata<'GET', `instances/${string}`, {}>;        // Instance
 * type D = RouteMetadata<'POST', 'instances', {}>;                 // Operation
 */
export type RouteMetadata<M extends Method, U extends string, Q = NoQuery, S extends ServerKind = 'lxd'> = [
  RouteEntry<M, U, S>,
] extends [never]
  ? unknown
  : ByRecursion<RouteEntry<M, U, S>, RecursionOf<U, Q>>;

/**
 * Type of the JSON request body for method `M` on url `U`; `unknown` when no
 * route matches or no JSON body is documented.
 */
export type RouteBody<M extends Method, U extends string, S extends ServerKind = 'lxd'> = [
  RouteEntry<M, U, S>,
] extends [never]
  ? unknown
  : RouteEntry<M, U, S>['body'];

/**
 * Documented query parameters for method `M` on url `U` (plus `recursion`
 * where recursion variants are documented); {@link Query} when no route
 * matches. Routes without documented parameters give `Record<never, never>`.
 */
export type RouteQuery<M extends Method, U extends string, S extends ServerKind = 'lxd'> = [
  RouteEntry<M, U, S>,
] extends [never]
  ? Query
  : RouteEntry<M, U, S>['query'];

/**
 * Query parameters the verbs accept for method `M` on url `U`: the documented
 * ones ({@link RouteQuery}) are type-checked (and autocompleted), and other
 * names are allowed too, because LXD's description does not list every
 * parameter the server understands.
 */
export type QueryFor<M extends Method, U extends string, S extends ServerKind = 'lxd'> = RouteQuery<M, U, S> & Query;

/**
 * Whether method `M` on url `U` is documented to answer with a background
 * operation (`true`), a sync response (`false`), or either (`boolean`).
 */
export type RouteIsAsync<M extends Method, U extends string, S extends ServerKind = 'lxd'> = [
  RouteEntry<M, U, S>,
] extends [never]
  ? boolean
  : RouteEntry<M, U, S>['async'];

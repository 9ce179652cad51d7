/**
 * A minimal local stand-in of the client's verb signatures (the real ones
 * live in `src/api.ts`), written against the contract in `src/routes.ts`.
 * The signatures here are meant to be pasted verbatim into `class API`.
 */
import type { Operation } from '../../src/generated/lxd-types.ts';
import type { Method, NoQuery, Query, QueryFor, RouteBody, RouteMetadata } from '../../src/routes.ts';

export interface APIResult<T> {
  readonly metadata: T;
}

export type ResultPromise<T> = Promise<APIResult<T>> & {
  wait(options?: { timeout?: number }): Promise<APIResult<Operation>>;
};

export interface RequestOptions<B = unknown, Q extends Query = Query> {
  json?: B;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  query?: Q;
  ifMatch?: string;
  signal?: AbortSignal;
  timeout?: number;
  stream?: boolean;
}

/** Response type of a verb: an explicit `T` wins, else the route's metadata. */
export type Metadata<T, M extends Method, U extends string, Q> = [T] extends [never] ? RouteMetadata<M, U, Q> : T;

export declare class API {
  get<T = never, U extends string = string, const Q extends QueryFor<'GET', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'GET', U>, Q>,
  ): ResultPromise<Metadata<T, 'GET', U, Q>>;
  post<T = never, U extends string = string, const Q extends QueryFor<'POST', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'POST', U>, Q>,
  ): ResultPromise<Metadata<T, 'POST', U, Q>>;
  put<T = never, U extends string = string, const Q extends QueryFor<'PUT', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PUT', U>, Q>,
  ): ResultPromise<Metadata<T, 'PUT', U, Q>>;
  patch<T = never, U extends string = string, const Q extends QueryFor<'PATCH', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'PATCH', U>, Q>,
  ): ResultPromise<Metadata<T, 'PATCH', U, Q>>;
  delete<T = never, U extends string = string, const Q extends QueryFor<'DELETE', U> = NoQuery>(
    url: U,
    options?: RequestOptions<RouteBody<'DELETE', U>, Q>,
  ): ResultPromise<Metadata<T, 'DELETE', U, Q>>;
}

/**
 * Type tests of the route machinery (src/routes.ts) and of the generated
 * types, checked by `tsc -p test/types` (nothing here runs). Every negative
 * case is a `// @ts-expect-error` line: it fails the check if it compiles.
 */

import type { API } from '../../src/api.ts';
import type {
  Certificate,
  EmptyMetadata,
  ImageMetadata,
  ImageMetadataRequest,
  Instance,
  InstanceFull,
  InstancePut,
  InstanceState,
  InstancesPost,
  Operation,
  Server,
  StorageVolume,
} from '../../src/generated/lxd-types.ts';
import type { APIResult, ResultPromise } from '../../src/index.ts';
import type {
  MatchRoute,
  NoQuery,
  QueryFor,
  RouteBody,
  RouteIsAsync,
  RouteMetadata,
  RouteQuery,
} from '../../src/routes.ts';
import { type Equal, type Expect, expectType } from './helpers.ts';

declare const api: API;
declare const name: string;
declare const anyUrl: string;

// ---------------------------------------------------------------------------
// Url normalisation and segment-wise matching (most specific template wins)

export type Matching = [
  Expect<Equal<MatchRoute<'instances'>, '/1.0/instances'>>,
  Expect<Equal<MatchRoute<'/1.0/instances'>, '/1.0/instances'>>,
  Expect<Equal<MatchRoute<'instances?recursion=1'>, '/1.0/instances'>>,
  Expect<Equal<MatchRoute<''>, '/1.0'>>,
  Expect<Equal<MatchRoute<'/1.0'>, '/1.0'>>,
  Expect<Equal<MatchRoute<'/'>, '/'>>,
  Expect<Equal<MatchRoute<'instances/c1'>, '/1.0/instances/{name}'>>,
  Expect<Equal<MatchRoute<`instances/${string}`>, '/1.0/instances/{name}'>>,
  // literal segment beats the {name} template, exact segment count
  Expect<Equal<MatchRoute<'instances/c1/state'>, '/1.0/instances/{name}/state'>>,
  Expect<Equal<MatchRoute<`instances/${string}/state`>, '/1.0/instances/{name}/state'>>,
  Expect<Equal<MatchRoute<'images/aliases'>, '/1.0/images/aliases'>>,
  Expect<Equal<MatchRoute<'images/aliases/a1'>, '/1.0/images/aliases/{name}'>>,
  Expect<Equal<MatchRoute<'images/abc123'>, '/1.0/images/{fingerprint}'>>,
  Expect<
    Equal<
      MatchRoute<'/1.0/storage-pools/default/volumes/custom/v1/snapshots/s1'>,
      '/1.0/storage-pools/{poolName}/volumes/{type}/{volumeName}/snapshots/{snapshotName}'
    >
  >,
  // a {param} matches one whole segment: never a "/" nor an empty segment
  Expect<Equal<MatchRoute<'instances/a/b'>, never>>,
  Expect<Equal<MatchRoute<'instances/'>, never>>,
  Expect<Equal<MatchRoute<'instances/c1/state/x'>, never>>,
  Expect<Equal<MatchRoute<'nope'>, never>>,
  Expect<Equal<MatchRoute<string>, never>>,
];

// ---------------------------------------------------------------------------
// RouteMetadata: recursion variants, async routes, unknown urls

export type Metadata = [
  Expect<Equal<RouteMetadata<'GET', 'instances', NoQuery>, string[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances'>, string[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances', { recursion: 0 }>, string[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances', { recursion: 1 }>, Instance[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances', { readonly recursion: 2 }>, InstanceFull[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances', { recursion: number }>, string[] | Instance[] | InstanceFull[]>>,
  Expect<Equal<RouteMetadata<'GET', 'instances?recursion=1', NoQuery>, Instance[]>>,
  Expect<Equal<RouteMetadata<'GET', '/1.0/instances?project=p&recursion=2', NoQuery>, InstanceFull[]>>,
  // the query object wins over the url's query string
  Expect<Equal<RouteMetadata<'GET', 'instances?recursion=2', { recursion: 1 }>, Instance[]>>,
  // only recursion=1 documented: recursion=2 gives the same as 1
  Expect<Equal<RouteMetadata<'GET', 'certificates', { recursion: 2 }>, Certificate[]>>,
  Expect<Equal<RouteMetadata<'GET', `instances/${string}`, NoQuery>, Instance>>,
  Expect<Equal<RouteMetadata<'GET', 'instances/c1', { recursion: 1 }>, InstanceFull>>,
  Expect<Equal<RouteMetadata<'GET', 'instances/c1/state', NoQuery>, InstanceState>>,
  Expect<Equal<RouteMetadata<'GET', '', NoQuery>, Server>>,
  Expect<Equal<RouteMetadata<'GET', '/1.0', NoQuery>, Server>>,
  Expect<Equal<RouteMetadata<'GET', 'operations', { recursion: 1 }>, Record<string, Operation[]>>>,
  Expect<Equal<RouteMetadata<'POST', 'instances', NoQuery>, Operation>>,
  Expect<Equal<RouteMetadata<'PUT', 'instances/c1', NoQuery>, Operation>>,
  Expect<Equal<RouteMetadata<'PATCH', 'instances/c1', NoQuery>, EmptyMetadata>>,
  Expect<Equal<RouteMetadata<'POST', 'storage-pools/p/volumes/custom', NoQuery>, EmptyMetadata | Operation>>,
  // corrected by the e2e truth check: creations that answer with a Location send null; a certificate token is an operation
  Expect<Equal<RouteMetadata<'POST', 'projects', NoQuery>, null>>,
  Expect<Equal<RouteMetadata<'POST', 'certificates', NoQuery>, null | Operation>>,
  Expect<Equal<RouteIsAsync<'POST', 'certificates'>, boolean>>,
  Expect<Equal<null extends InstanceState['network'] ? true : false, true>>,
  Expect<Equal<undefined extends Server['auth_user_name'] ? true : false, true>>,
  Expect<Equal<RouteIsAsync<'POST', 'instances'>, true>>,
  Expect<Equal<RouteIsAsync<'PATCH', 'instances/c1'>, false>>,
  // no route, no such method on a route, or not JSON: unknown
  Expect<Equal<RouteMetadata<'GET', 'nope/x', NoQuery>, unknown>>,
  Expect<Equal<RouteMetadata<'PATCH', 'instances', NoQuery>, unknown>>,
  Expect<Equal<RouteMetadata<'GET', string, { recursion: 1 }>, unknown>>,
  Expect<Equal<RouteMetadata<'GET', 'instances/c1/console', NoQuery>, unknown>>,
];

// ---------------------------------------------------------------------------
// RouteBody and RouteQuery

export type Bodies = [
  Expect<Equal<RouteBody<'POST', 'instances'>, InstancesPost>>,
  Expect<Equal<RouteBody<'POST', '/1.0/instances'>, InstancesPost>>,
  Expect<Equal<RouteBody<'PUT', `instances/${string}`>, InstancePut>>,
  Expect<Equal<RouteBody<'PUT', 'instances/c1/metadata'>, ImageMetadataRequest>>,
  Expect<Equal<RouteBody<'GET', 'instances'>, unknown>>,
  Expect<Equal<RouteBody<'POST', 'nope'>, unknown>>,
  Expect<Equal<RouteBody<'POST', string>, unknown>>,
];

export type Queries = [
  Expect<
    Equal<
      RouteQuery<'GET', 'instances'>,
      {
        'all-projects'?: boolean;
        filter?: string;
        project?: string;
        recursion?: 0 | 1 | 2;
      }
    >
  >,
  Expect<Equal<RouteQuery<'GET', 'instances/c1/files'>, { path?: string; project?: string }>>,
  Expect<Equal<RouteQuery<'GET', 'operations/abc/wait'>, { secret?: string; timeout?: number }>>,
  Expect<Equal<RouteQuery<'DELETE', 'certificates/abc'>, Record<never, never>>>,
  Expect<Equal<RouteQuery<'GET', 'nope'>, { readonly [name: string]: string | number | boolean | undefined }>>,
  Expect<Equal<QueryFor<'GET', 'instances'>['all-projects'], boolean | undefined>>,
];

// ---------------------------------------------------------------------------
// Generated types: optionality of response versus request definitions

export type Optionality = [
  // responses: every field required (the server sends them all)
  Expect<Equal<Pick<Instance, 'name'>, { name: string }>>,
  Expect<Equal<Instance['expanded_devices'], Record<string, Record<string, string>>>>,
  Expect<Equal<Pick<ImageMetadata, 'architecture'>, { architecture: string }>>,
  // requests: every field optional
  Expect<Equal<Pick<InstancesPost, 'name'>, { name?: string }>>,
  Expect<Equal<Pick<ImageMetadataRequest, 'architecture'>, { architecture?: string }>>,
  Expect<Equal<Partial<InstancePut>, InstancePut>>,
  // Go nil slices/maps sent as null
  Expect<Equal<null extends InstanceFull['snapshots'] ? true : false, true>>,
  Expect<Equal<null extends Operation['metadata'] ? true : false, true>>,
  Expect<Equal<null extends Instance['profiles'] ? true : false, false>>,
  Expect<Equal<StorageVolume['config'], Record<string, string>>>,
];

// ---------------------------------------------------------------------------
// The verbs of src/api.ts

expectType<ResultPromise<string[]>>()(api.get('instances'));
expectType<ResultPromise<Instance[]>>()(api.get('instances', { query: { recursion: 1 } }));
expectType<ResultPromise<InstanceFull[]>>()(api.get('instances', { query: { recursion: 2, project: 'p' } }));
expectType<ResultPromise<Instance[]>>()(api.get('instances?recursion=1'));
expectType<ResultPromise<Instance>>()(api.get(`instances/${name}`));
expectType<ResultPromise<InstanceState>>()(api.get(`instances/${name}/state`));
expectType<ResultPromise<Instance[]>>()(api.get('/1.0/instances', { query: { recursion: 1 } }));
expectType<ResultPromise<Server>>()(api.get(''));
expectType<ResultPromise<Operation>>()(
  api.post('instances', {
    json: { name: 'c1', source: { type: 'image', alias: 'd12' } },
  }),
);
expectType<ResultPromise<Operation>>()(api.post('/1.0/instances', { json: { name: 'c1' }, query: { project: 'p' } }));
expectType<ResultPromise<EmptyMetadata>>()(api.patch(`instances/${name}`, { json: { description: 'x' } }));
expectType<ResultPromise<Operation>>()(api.delete(`instances/${name}`));
// an explicit type argument wins over the route
expectType<ResultPromise<Instance[]>>()(api.get<Instance[]>('instances', { query: { recursion: 1 } }));
expectType<ResultPromise<string>>()(api.get<string>('instances'));
expectType<ResultPromise<{ x: 1 }>>()(api.post<{ x: 1 }>('instances', { json: { anything: true } }));
// unknown urls still compile, with unknown metadata and any query/body
expectType<ResultPromise<unknown>>()(api.get('nope/x', { query: { a: 1 } }));
expectType<ResultPromise<unknown>>()(api.get(anyUrl, { query: { recursion: 1 } }));
expectType<ResultPromise<unknown>>()(api.post(anyUrl, { json: { whatever: 1 } }));
// parameters LXD's description does not list are allowed
expectType<ResultPromise<string[]>>()(api.get('certificates', { query: { project: 'p' } }));
// the metadata lands in APIResult
export async function awaited(): Promise<void> {
  const r = await api.get(`instances/${name}`);
  expectType<APIResult<Instance>>()(r);
  expectType<string>()(r.metadata.name);
  const op = await api.post('instances', { json: { name: 'c1' } }).wait();
  expectType<Operation>()(op.metadata);
}

// ---------------------------------------------------------------------------
// Negative cases

// @ts-expect-error unknown field in a request body (excess property check)
api.post('instances', { json: { name: 'c1', bogus: 1 } });
// @ts-expect-error wrong type of a body field
api.post('instances', { json: { name: 1 } });
// @ts-expect-error nested request types are checked too
api.post('instances', { json: { source: { type: 'image', nope: true } } });
// @ts-expect-error body of an absolute url is checked the same
api.put('/1.0/instances/c1', { json: { profiles: 'default' } });
// @ts-expect-error undocumented recursion level
api.get('instances', { query: { recursion: 3 } });
// @ts-expect-error documented query parameter with the wrong type
api.get('instances', { query: { 'all-projects': 'yes' } });
// @ts-expect-error metadata of a collection is not an Instance
expectType<ResultPromise<Instance>>()(api.get('instances'));
// @ts-expect-error a response type is not inferred as any
expectType<ResultPromise<number>>()(api.get(`instances/${name}/state`));

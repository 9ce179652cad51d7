// Type tests of API<'incus'>: Incus 6.0's routes and shapes; the default (LXD 5.0's) for both servers.

import type { Incus, Instance, InstanceState, ResultPromise, RouteKey, ServerKind } from '../../src/index.ts';
import { API } from '../../src/index.ts';
import { type Equal, type Expect, expectType } from './helpers.ts';

declare const lxd: API;
declare const incus: API<'incus'>;
declare const name: string;

export type Checks = [
  Expect<Equal<ServerKind, 'lxd' | 'incus'>>,
  // Incus 6.0 describes every route LXD 5.0 does...
  Expect<Equal<Exclude<RouteKey, RouteKey<'incus'>>, never>>,
  // ...and routes of its own.
  Expect<Equal<'/1.0/instances/{name}/access' extends RouteKey<'incus'> ? true : false, true>>,
  Expect<Equal<'/1.0/instances/{name}/access' extends RouteKey ? true : false, false>>,
  Expect<Equal<Incus.InstanceState['os_info'], Incus.InstanceStateOSInfo | null>>,
  Expect<Equal<'os_info' extends keyof InstanceState ? true : false, false>>,
];

// The same call, typed with each server's shapes.
expectType<ResultPromise<InstanceState>>()(lxd.get(`instances/${name}/state`));
expectType<ResultPromise<Incus.InstanceState>>()(incus.get(`instances/${name}/state`));
expectType<ResultPromise<Incus.Instance[]>>()(incus.get('instances', { query: { recursion: 1 } }));
expectType<ResultPromise<Incus.Access>>()(incus.get(`instances/${name}/access`));
// A route only Incus has is unknown to the default types.
expectType<ResultPromise<unknown>>()(lxd.get(`instances/${name}/access`));
// Request bodies follow the server: Incus takes trust_token, LXD 5.0 password.
incus.post('certificates', { json: { type: 'client', trust_token: 't' } });
lxd.post('certificates', { json: { type: 'client', password: 'p' } });
// @ts-expect-error Incus 6.0's CertificatesPost has no password
incus.post('certificates', { json: { type: 'client', password: 'p' } });
// @ts-expect-error an Incus InstanceState is not LXD's Instance
expectType<ResultPromise<Instance>>()(incus.get(`instances/${name}/state`));

// Picking the server's types where the API is made.
export function made(): void {
  expectType<API<'incus'>>()(API.factory<'incus'>());
  expectType<API>()(API.factory());
  expectType<API<'incus'>>()(API.remote<'incus'>('my-incus'));
}

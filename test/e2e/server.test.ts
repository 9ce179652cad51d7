// End to end over the unix socket: finding the daemon, the server document,
// errors (404, stale ETag), listing with recursion and filter, projects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API, APIException, APINotFoundException, type Instance, type Server } from '../../src/index.ts';
import { withEnv } from '../helpers/env.ts';
import {
  dirVariable,
  escapeRegExp,
  lxd,
  perServer,
  removeInstance,
  server as serverKind,
  serverName,
  skip,
  uniqueName,
  unixApi,
} from './helpers.ts';

describe(`server, errors and listings over the unix socket of ${serverName}`, skip, () => {
  let api: API;
  let extensions: string[] = [];
  before(async () => {
    api = unixApi();
    extensions = (await api.get<Server>('/1.0')).metadata.api_extensions;
  });
  after(() => api?.close());

  // The variable each server's own client reads: LXD_DIR for LXD, INCUS_DIR for Incus.
  test(`API.factory() finds the socket through ${dirVariable} alone, and GET /1.0 answers`, async () => {
    const none = { LXD_DIR: undefined, LXD_SOCKET: undefined, INCUS_DIR: undefined, INCUS_SOCKET: undefined };
    const found = await withEnv({ ...none, [dirVariable]: lxd.dir }, () => API.factory());
    try {
      assert.equal(found.socketPath, `${lxd.dir}/unix.socket`);
      const server = await found.get<Server>('/1.0');
      assert.equal(server.status, 200);
      assert.equal(server.data?.type, 'sync');
      assert.equal(server.metadata.api_version, '1.0');
      assert.equal(server.metadata.environment.server, serverKind);
      assert.match(server.metadata.environment.server_version, perServer({ lxd: /^5\.0\./, incus: /^6\.0\./ }));
      assert.equal(server.metadata.auth, 'trusted');
      assert.ok(server.metadata.api_extensions.includes('instances'));
      assert.ok(server.metadata.api_extensions.length > 100, 'api_extensions is the full list');
      assert.equal(server.request.url, `${found.endpoint}/1.0`);
    } finally {
      await found.close();
    }
  });

  test("'' is the server document too", async () => {
    const server = await api.get<Server>('');
    assert.equal(server.status, 200);
    assert.equal(server.metadata.api_version, '1.0');
  });

  test(`a missing object is APINotFoundException with the message of ${serverName}`, async () => {
    const name = uniqueName('e2e-srv-missing');
    const error = await api.get(`instances/${name}`).then(
      () => assert.fail('found'),
      (reason: unknown) => reason,
    );
    assert.ok(error instanceof APINotFoundException);
    assert.equal(error.status, 404);
    assert.equal(error.code, 'ERR_LXD_NOT_FOUND');
    // Incus 6.0 says which instance and project it looked for; LXD 5.0 does not.
    const text = perServer({
      lxd: 'Instance not found',
      incus: `Failed to fetch instance "${name}" in project "default": Instance not found`,
    });
    assert.equal(error.message, `GET ${api.endpoint}/1.0/instances/${name} ${text}`);
  });

  test('a PUT with a stale ETag is refused with 412, a fresh one is accepted', async () => {
    const name = uniqueName('e2e-srv-etag');
    try {
      await api.post('instances', { json: { name, source: { type: 'image', alias: lxd.image } } }).wait();
      const current = await api.get<Instance>(`instances/${name}`);
      assert.match(current.etag ?? '', /^"?[0-9a-f]{64}"?$/);
      // LXD 5.0 (and Incus 6.0) hash architecture, config, devices, ephemeral and profiles into
      // an instance's ETag, not its description: change the config to make it stale.
      const { config, devices, profiles, ephemeral } = current.metadata;
      const changed = { config: { ...config, 'user.e2e': 'changed' }, devices, profiles, ephemeral };

      await api.put(`instances/${name}`, { json: changed, ifMatch: current.etag as string }).wait();
      const after = await api.get<Instance>(`instances/${name}`);
      assert.equal(after.metadata.config['user.e2e'], 'changed');
      assert.notEqual(after.etag, current.etag);

      const stale = { ...changed, config: { ...config, 'user.e2e': 'stale' } };
      const error = await api.put(`instances/${name}`, { json: stale, ifMatch: current.etag as string }).then(
        () => assert.fail('the stale PUT was accepted'),
        (reason: unknown) => reason,
      );
      assert.ok(error instanceof APIException);
      assert.equal(error.status, 412);
      assert.equal(error.result.request.headers['if-match'], current.etag);
      assert.match(
        error.message,
        new RegExp(
          `^PUT ${escapeRegExp(api.endpoint)}/1\\.0/instances/${name} ETag doesn't match: [0-9a-f]{64} vs [0-9a-f]{64}$`,
        ),
      );
    } finally {
      await removeInstance(api, name);
    }
  });

  test('recursion=1 and filter= on instances', { timeout: 60_000 }, async () => {
    assert.ok(extensions.includes('api_filtering'), 'LXD 5.0 and Incus 6.0 have api_filtering');
    const prefix = uniqueName('e2e-srv-list');
    const names = [`${prefix}-a`, `${prefix}-b`];
    try {
      for (const name of names)
        await api
          .post('instances', { json: { name, source: { type: 'image', alias: lxd.image }, description: name } })
          .wait();
      const urls = await api.get<string[]>('instances');
      for (const name of names) assert.ok(urls.metadata.includes(`/1.0/instances/${name}`));

      const full = await api.get<Instance[]>('instances', { query: { recursion: 1 } });
      const ours = full.metadata.filter((instance) => instance.name.startsWith(prefix));
      assert.deepEqual(
        ours.map((instance) => [instance.name, instance.status]).sort(),
        names.map((name) => [name, 'Stopped']),
      );

      const one = await api.get<Instance[]>('instances', { query: { recursion: 1, filter: `name eq ${names[1]}` } });
      assert.deepEqual(
        one.metadata.map((instance) => instance.name),
        [names[1]],
      );
      assert.match(one.request.url, /\?recursion=1&filter=name\+eq\+/);
      const none = await api.get<Instance[]>('instances', {
        query: { recursion: 1, filter: `name eq ${prefix}-none` },
      });
      assert.deepEqual(none.metadata, []);
    } finally {
      for (const name of names) await removeInstance(api, name);
    }
  });

  test('an instance in a project is listed through the project option only', { timeout: 60_000 }, async () => {
    const project = uniqueName('e2e-srv-proj');
    const name = uniqueName('e2e-srv-inproj');
    // features.images/profiles false: the project uses the default project's images and profiles.
    await api.post('projects', {
      json: { name: project, config: { 'features.images': 'false', 'features.profiles': 'false' } },
    });
    const inProject = API.factory(lxd.socket, { project });
    try {
      const created = await inProject.post('instances', {
        json: { name, source: { type: 'image', alias: lxd.image } },
      });
      assert.match(created.request.url, new RegExp(`/1\\.0/instances\\?project=${project}$`));
      await created.wait();
      // LXD and Incus name objects of another project with their ?project= in the url.
      assert.deepEqual((await inProject.get<string[]>('instances')).metadata, [
        `/1.0/instances/${name}?project=${project}`,
      ]);
      const listed = await inProject.get<Instance[]>('instances', { query: { recursion: 1 } });
      assert.deepEqual(
        listed.metadata.map((instance) => [instance.name, instance.project]),
        [[name, project]],
      );
      assert.ok(
        !(await api.get<string[]>('instances')).metadata.some((url) => url.includes(name)),
        'not in the default project',
      );
      await assert.rejects(api.get(`instances/${name}`), APINotFoundException);
      // a request's own project wins over the API's.
      assert.equal((await api.get<Instance>(`instances/${name}`, { query: { project } })).metadata.project, project);
    } finally {
      await removeInstance(inProject, name);
      await inProject.close();
      await api.delete(`projects/${project}`);
    }
    await assert.rejects(api.get(`projects/${project}`), APINotFoundException);
  });
});

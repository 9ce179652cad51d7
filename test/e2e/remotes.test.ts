// End to end: API.remote() from config folders written here, against the real LXD and Incus (see ./targets.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { API, APIConnectionError, APIException, type Server } from '../../src/index.ts';
import { withEnv } from '../helpers/env.ts';
import { targets, useTarget } from './targets.ts';

const T = { timeout: 60_000 };

for (const { name, skip, get } of targets) {
  describe(`remotes of a config folder on ${name}`, skip, () => {
    const ctx = useTarget(get);

    test('the default remote of a config folder: its address, the saved pin, the client certificate', T, async () => {
      const configDir = ctx.configFolder(ctx.remoteYaml({ sandbox: { addr: ctx.server.url } }, 'sandbox'), {
        'servercerts/sandbox.crt': ctx.serverPem,
      });
      const api = ctx.open(API.remote(undefined, { configDir }));
      assert.equal(api.endpoint, ctx.server.url);
      assert.equal(api.project, undefined);
      const info = await api.get<Server>('');
      assert.equal(info.metadata.auth, 'trusted');
      assert.equal(info.metadata.environment.server, ctx.server.kind);
    });

    test('a named remote with a project, and the same through the environment variables', T, async () => {
      const yaml = ctx.remoteYaml(
        { sandbox: { addr: ctx.server.url }, work: { addr: ctx.server.url, project: ctx.project } },
        'sandbox',
      );
      const configDir = ctx.configFolder(yaml, {
        'servercerts/work.crt': ctx.serverPem,
        'servercerts/sandbox.crt': ctx.serverPem,
      });
      const named = ctx.open(API.remote('work', { configDir }));
      assert.equal(named.project, ctx.project);
      const instances = await named.get('instances');
      assert.deepEqual(instances.metadata, []);
      assert.equal(instances.request.url, `${ctx.server.url}/1.0/instances?project=${ctx.project}`);

      const vars =
        ctx.server.kind === 'lxd'
          ? { LXD_CONF: configDir, LXC_REMOTE: 'work', INCUS_CONF: undefined }
          : { INCUS_CONF: configDir, INCUS_REMOTE: 'work', LXD_CONF: undefined };
      await withEnv(vars, async () => {
        const api = ctx.open(API.remote());
        assert.equal(api.project, ctx.project);
        assert.deepEqual((await api.get('instances')).metadata, []);
      });
    });

    test('a unix:// remote is the local socket', T, async () => {
      const configDir = ctx.configFolder(ctx.remoteYaml({ here: { addr: `unix://${ctx.server.socket}` } }, 'here'));
      const api = ctx.open(API.remote(undefined, { configDir }));
      assert.equal(api.socketPath, ctx.server.socket);
      assert.equal((await api.get<Server>('')).metadata.auth, 'trusted');
    });

    test('an untrusted client certificate, and a wrong pin', T, async () => {
      const yaml = ctx.remoteYaml({ sandbox: { addr: ctx.server.url } }, 'sandbox');
      const untrusted = ctx.configFolder(yaml, {
        'client.crt': ctx.untrustedPair.cert,
        'client.key': ctx.untrustedPair.key,
        'servercerts/sandbox.crt': ctx.serverPem,
      });
      // Not schema-checked: the untrusted see a GET /1.0 without config and environment, as documented.
      const api = API.remote(undefined, { configDir: untrusted });
      ctx.opened.push(api);
      const info = await api.get<Server>('');
      assert.equal(info.metadata.auth, 'untrusted');
      assert.equal(info.metadata.environment, undefined, 'no environment for the untrusted');
      await assert.rejects(api.get('instances'), (error: unknown) => {
        assert.ok(error instanceof APIException);
        assert.equal(error.status, 403);
        return true;
      });

      const wrongPin = ctx.configFolder(yaml, { 'servercerts/sandbox.crt': ctx.untrustedPair.cert });
      const pinned = API.remote(undefined, { configDir: wrongPin });
      ctx.opened.push(pinned);
      await assert.rejects(pinned.get(''), (error: unknown) => {
        assert.ok(error instanceof APIConnectionError);
        assert.equal(error.endpoint, ctx.server.url);
        assert.match(error.hint, /^the server's certificate is not the pinned serverCert/);
        return true;
      });
    });
  });
}

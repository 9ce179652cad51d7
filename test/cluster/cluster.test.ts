// End to end against a real 3-member LXD cluster (scripts/lxd-sandbox.sh
// cluster up): placement with `target`, every operation flow sent through a
// member other than the one that runs it, events of all members through one,
// and a member stopped for real. One file, in order: node --test runs files in
// parallel, and the last test stops a member (then rebuilds the cluster).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type API,
  APIConnectionError,
  APIException,
  type Instance,
  type LifecycleEvent,
  type Operation,
  OperationTimeoutError,
} from '../../src/index.ts';
import { cluster, clusterApi, collect, removeInstance, sandbox, skip, stopMember, uniqueName } from './helpers.ts';

interface Member {
  server_name: string;
  url: string;
  status: string;
  message: string;
  roles: string[];
  database: boolean;
}
interface ExecMetadata {
  return: number;
  output: Record<string, string>;
}
const execOf = (op: Operation) => op.metadata as unknown as ExecMetadata;
/** Member i's URL and name (0 is member1). */
const urlOf = (i: number) => cluster.urls[i] as string;
const memberOf = (i: number) => cluster.members[i] as string;

describe('an LXD cluster', skip, () => {
  // Single-member clients: m[0] is member1's, and so on.
  let m: API[];
  const base = uniqueName();
  // One instance on member2, one on member3; member1 runs none of them, and is the one stopped last.
  const on2 = `${base}-m2`;
  const on3 = `${base}-m3`;
  const closeLater: API[] = [];
  let stopped = false;

  before(() => {
    m = cluster.urls.map((url) => clusterApi(url));
  });

  after(
    async () => {
      // Through whichever members still run.
      const survivors = clusterApi(cluster.urls.slice(1));
      try {
        await removeInstance(survivors, on2);
        await removeInstance(survivors, on3);
      } finally {
        await survivors.close();
        for (const api of [...(m ?? []), ...closeLater]) await api.close();
        // A partial cluster is rebuilt (all of it: new certificates, same addresses and exports' paths).
        if (stopped) await sandbox('up');
      }
    },
    { timeout: 180_000 },
  );

  test('every member lists the members, names, urls and status, and says which one it is', async () => {
    const multi = clusterApi(cluster.urls);
    closeLater.push(multi);
    const listed = await multi.get<Member[]>('cluster/members', { query: { recursion: 1 } });
    assert.equal(listed.endpoint, urlOf(0));
    const byName = [...listed.metadata].sort((a, b) => a.server_name.localeCompare(b.server_name));
    assert.deepEqual(
      byName.map((member) => [member.server_name, member.url, member.status, member.message, member.database]),
      cluster.members.map((name, i) => [name, cluster.urls[i], 'Online', 'Fully operational', true]),
    );
    assert.equal(byName.filter((member) => member.roles.includes('database-leader')).length, 1, 'one database leader');
    const names = await m[0]?.get<string[]>('cluster/members');
    assert.deepEqual(
      [...(names?.metadata ?? [])].sort(),
      cluster.members.map((name) => `/1.0/cluster/members/${name}`),
    );
    for (const [i, api] of m.entries()) {
      const self = await api.get<{ server_name: string; enabled: boolean }>('cluster');
      assert.deepEqual(
        [self.metadata.server_name, self.metadata.enabled, self.endpoint],
        [cluster.members[i], true, cluster.urls[i]],
      );
      const server = await api.get('');
      assert.equal(server.metadata.environment.server_clustered, true);
      assert.equal(server.metadata.environment.server_name, cluster.members[i]);
    }
  });

  test('per-request target: created on member2 through member1, started through member3, exec and its log through others', {
    timeout: 120_000,
  }, async () => {
    const [m1, m2, m3] = m as [API, API, API];
    const created = await m1.post('instances', {
      json: { name: on2, source: { type: 'image', alias: cluster.image } },
      target: memberOf(1),
    });
    assert.equal(created.status, 202);
    assert.equal(created.endpoint, urlOf(0));
    assert.equal(created.request.url, `${urlOf(0)}/1.0/instances?target=${memberOf(1)}`);
    assert.equal(created.metadata.location, memberOf(1), 'the operation runs on the target');
    const createdOp = await created.wait();
    assert.equal(createdOp.endpoint, urlOf(0), 'waited through member1');
    assert.deepEqual([createdOp.metadata.status_code, createdOp.metadata.location], [200, memberOf(1)]);

    const instance = await m3.get<Instance & { location: string }>(`instances/${on2}`);
    assert.equal(instance.metadata.location, memberOf(1));
    assert.equal(instance.endpoint, urlOf(2));

    const started = await m3.put(`instances/${on2}/state`, { json: { action: 'start' } });
    assert.equal(started.endpoint, urlOf(2));
    const startedOp = await started.waitUntilDone({ timeout: 30 });
    assert.deepEqual(
      [startedOp.endpoint, startedOp.metadata.location, startedOp.metadata.status],
      [urlOf(2), memberOf(1), 'Success'],
    );
    assert.equal((await m1.get<{ status: string }>(`instances/${on2}/state`)).metadata.status, 'Running');

    const exec = await m1.post(`instances/${on2}/exec`, {
      json: {
        command: ['sh', '-c', 'printf "out:%s\\n" "$(hostname)"; echo err >&2; exit 3'],
        'record-output': true,
        'wait-for-websocket': false,
        interactive: false,
      },
    });
    assert.equal(exec.endpoint, urlOf(0));
    const execOp = await exec.wait({ timeout: 30 });
    assert.deepEqual(
      [execOp.endpoint, execOp.metadata.location, execOf(execOp.metadata).return],
      [urlOf(0), memberOf(1), 3],
    );
    const output = execOf(execOp.metadata).output;
    assert.match(output['1'] ?? '', new RegExp(`^/1\\.0/instances/${on2}/logs/exec_[0-9a-f-]{36}\\.stdout$`));
    for (const [api, fd, text] of [
      [m3, '1', `out:${on2}\n`],
      [m1, '2', 'err\n'],
    ] as const) {
      const log = await api.get(output[fd] as string);
      assert.equal(log.endpoint, api.endpoint);
      assert.equal(log.data, undefined, 'a log is a raw body, not an envelope');
      assert.equal(log.response.headers['content-type'], 'application/octet-stream');
      assert.equal(Buffer.from(log.body ?? []).toString('utf8'), text);
    }
    // The member that runs it agrees.
    assert.equal((await m2.get<Instance & { location: string }>(`instances/${on2}`)).metadata.location, memberOf(1));
  });

  test('the target option: a multi-member API whose first member is member1 places, starts and runs on member3', {
    timeout: 120_000,
  }, async () => {
    const api = clusterApi([urlOf(0), urlOf(1)], { target: memberOf(2) });
    closeLater.push(api);
    assert.equal(api.target, memberOf(2));
    const created = await api.post('instances', {
      json: { name: on3, source: { type: 'image', alias: cluster.image } },
    });
    assert.equal(created.request.url, `${urlOf(0)}/1.0/instances?target=${memberOf(2)}`);
    const createdOp = await created.wait();
    assert.deepEqual(
      [createdOp.endpoint, createdOp.metadata.location, createdOp.metadata.status_code],
      [urlOf(0), memberOf(2), 200],
    );
    const startedOp = await api.put(`instances/${on3}/state`, { json: { action: 'start' } }).wait();
    assert.deepEqual(
      [startedOp.endpoint, startedOp.metadata.location, startedOp.metadata.status],
      [urlOf(0), memberOf(2), 'Success'],
    );
    const instance = await api.get<Instance & { location: string }>(`instances/${on3}`);
    assert.deepEqual(
      [instance.endpoint, instance.metadata.location, instance.metadata.status],
      [urlOf(0), memberOf(2), 'Running'],
    );

    const exec = await api
      .post(`instances/${on3}/exec`, {
        json: { command: ['hostname'], 'record-output': true, 'wait-for-websocket': false },
      })
      .wait();
    assert.deepEqual([exec.endpoint, exec.metadata.location, execOf(exec.metadata).return], [urlOf(0), memberOf(2), 0]);
    const log = await api.get(execOf(exec.metadata).output['1'] as string);
    assert.equal(log.endpoint, urlOf(0));
    assert.equal(Buffer.from(log.body ?? []).toString('utf8'), `${on3}\n`);
  });

  test('api.exec() over websockets through a member that does not run the instance', { timeout: 60_000 }, async (t) => {
    const session = await m[0]?.exec(on2, ['sh', '-c', 'cat; echo done >&2']);
    assert.ok(session);
    // Closed whatever happens: an open websocket to a member would keep this file's process alive.
    t.after(() => session.close());
    assert.equal(session.result.endpoint, urlOf(0));
    assert.equal(session.result.metadata.location, memberOf(1));
    session.stdin.end('piped through member1\n');
    const [stdout, stderr] = await Promise.all([text(session.stdout), text(session.stderr)]);
    assert.deepEqual([stdout, stderr, await session.exitCode], ['piped through member1\n', 'done\n', 0]);
  });

  test('waitUntilDone through another member: a deadline, progress, then the result', { timeout: 60_000 }, async () => {
    const api = m[2] as API;
    const slow = await api.post(`instances/${on2}/exec`, {
      json: { command: ['sleep', '2'], 'wait-for-websocket': false, 'record-output': false },
    });
    assert.equal(slow.metadata.location, memberOf(1));
    await assert.rejects(slow.waitUntilDone({ timeout: 1 }), (error: unknown) => {
      assert.ok(error instanceof OperationTimeoutError, String(error));
      assert.match(error.message, /\(Executing command, still Running 103\) did not finish within 1 s$/);
      return true;
    });
    const states: number[] = [];
    const done = await slow.waitUntilDone({ timeout: 20, onProgress: (op) => states.push(op.status_code) });
    assert.deepEqual(
      [done.endpoint, done.metadata.status_code, done.metadata.location, execOf(done.metadata).return],
      [urlOf(2), 200, memberOf(1), 0],
    );
    assert.ok(states.includes(200));
  });

  test('cancel through another member: a token operation of member2, cancelled through member3, read back through member1', {
    timeout: 30_000,
  }, async () => {
    const [m1, m2, m3] = m as [API, API, API];
    const token = await m2.post<Operation>('certificates', {
      json: { name: uniqueName('cl-token'), type: 'client', token: true },
    });
    assert.equal(token.metadata.location, memberOf(1));
    assert.equal(token.metadata.may_cancel, true);
    const seen = await m3.get<Operation>(token.operation as string);
    assert.deepEqual([seen.endpoint, seen.metadata.id, seen.metadata.status], [urlOf(2), token.metadata.id, 'Running']);
    const cancelled = await seen.cancel();
    assert.deepEqual([cancelled.request.method, cancelled.endpoint, cancelled.status], ['DELETE', urlOf(2), 200]);
    await assert.rejects(seen.waitUntilDone({ timeout: 10 }), (error: unknown) => {
      assert.ok(error instanceof APIException, String(error));
      const op = error.result.metadata as Operation;
      assert.deepEqual(
        [error.result.endpoint, op.status_code, op.status, op.location],
        [urlOf(2), 401, 'Cancelled', memberOf(1)],
      );
      return true;
    });
    // Read back through member1: a cancelled operation's state rejects, as any failed operation does.
    await assert.rejects(m1.get<Operation>(token.operation as string), (error: unknown) => {
      assert.ok(error instanceof APIException, String(error));
      const op = error.result.metadata as Operation;
      assert.deepEqual(
        [error.result.endpoint, error.status, op.id, op.status_code],
        [urlOf(0), 200, token.metadata.id, 401],
      );
      return true;
    });
    // The token's own result (member2's API) sees it cancelled too.
    await assert.rejects(
      token.wait({ timeout: 5 }),
      (error: unknown) => error instanceof APIException && (error.result.metadata as Operation).status_code === 401,
    );
  });

  test('lifecycle events of every member arrive through member1, with their location', {
    timeout: 60_000,
  }, async () => {
    const [m1, m2, m3] = m as [API, API, API];
    const events = await m1.events({ type: 'lifecycle' });
    try {
      // Act on member2's instance through member3, and on member3's through member2.
      await m3.post(`instances/${on2}/exec`, { json: { command: ['true'], 'wait-for-websocket': false } }).wait();
      await m2.put(`instances/${on3}/state`, { json: { action: 'restart', force: true } }).wait();
      const is = (action: string, name: string) => (event: LifecycleEvent) =>
        event.metadata.action === action && event.metadata.source === `/1.0/instances/${name}`;
      const seen = await collect(events, [is('instance-exec', on2), is('instance-restarted', on3)]);
      const exec = seen.find(is('instance-exec', on2));
      const restarted = seen.find(is('instance-restarted', on3));
      assert.equal(exec?.location, memberOf(1));
      assert.equal(restarted?.location, memberOf(2));
      assert.equal(exec?.project, 'default');
    } finally {
      await events.close();
    }
  });

  // Last: member1 goes down for real, and the cluster is rebuilt in `after`.
  test('a member stops: requests in flight to it end at once, a multi-member API carries on through the others', {
    timeout: 120_000,
  }, async (t) => {
    const [m1] = m as [API];
    const multi = clusterApi(cluster.urls);
    closeLater.push(multi);
    assert.equal(multi.endpoint, urlOf(0));

    // In flight through member1: an event stream, and a long poll on an exec that runs on member2.
    const events = await m1.events();
    t.after(() => events.close());
    const sleeper = await m1.post(`instances/${on2}/exec`, {
      json: { command: ['sleep', '25'], 'wait-for-websocket': false },
    });
    assert.equal(sleeper.metadata.location, memberOf(1));
    const waiting = sleeper.wait({ timeout: 30 }).then(
      (result) => ({ result, at: performance.now() }),
      (error: unknown) => ({ error, at: performance.now() }),
    );
    const ended = events.ended.then((end) => ({ end, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const stoppedAt = performance.now();
    stopped = true;
    await stopMember(0);
    // The library sees member1 gone: a new connection to its address is refused. (m1's pooled
    // connections may still look open for a moment: a request on one fails with ECONNRESET.)
    const fresh = clusterApi(urlOf(0));
    closeLater.push(fresh);
    await assert.rejects(
      fresh.get(''),
      (error: unknown) =>
        error instanceof APIConnectionError && error.code === 'ECONNREFUSED' && error.endpoint === urlOf(0),
    );

    const waited = await waiting;
    assert.ok('error' in waited, 'the long poll through member1 does not resolve');
    assert.ok(waited.error instanceof APIConnectionError, String(waited.error));
    assert.equal(waited.error.endpoint, urlOf(0));
    assert.match(
      waited.error.message,
      new RegExp(`^GET ${urlOf(0)}/1\\.0/operations/[0-9a-f-]{36}/wait\\?.*timeout=30.* failed: `),
    );
    assert.ok(
      waited.at - stoppedAt < 5000,
      `the long poll ended ${Math.round(waited.at - stoppedAt)} ms after the stop`,
    );
    const end = await ended;
    t.diagnostic(
      `after the stop: long poll rejected in ${Math.round(waited.at - stoppedAt)} ms (${waited.error.code}), events ended in ${Math.round(end.at - stoppedAt)} ms (${end.end.code})`,
    );
    assert.equal(end.end.by, 'server');
    assert.ok(end.at - stoppedAt < 5000, `the event stream ended ${Math.round(end.at - stoppedAt)} ms after the stop`);

    // A fresh multi-member API whose first member is member1 carries on through member2.
    const members = await multi.get<Member[]>('cluster/members', { query: { recursion: 1 } });
    assert.equal(members.endpoint, urlOf(1));
    assert.equal(multi.endpoint, urlOf(1), 'the member that answered is tried first from then on');
    assert.deepEqual(members.metadata.map((member) => member.server_name).sort(), cluster.members);
    const exec = await multi
      .post(`instances/${on3}/exec`, {
        json: { command: ['hostname'], 'record-output': true, 'wait-for-websocket': false },
      })
      .wait();
    assert.deepEqual([exec.endpoint, exec.metadata.location, execOf(exec.metadata).return], [urlOf(1), memberOf(2), 0]);
    const log = await multi.get(execOf(exec.metadata).output['1'] as string);
    assert.deepEqual([log.endpoint, Buffer.from(log.body ?? []).toString('utf8')], [urlOf(1), `${on3}\n`]);
    // The exec that member1 was waiting on runs on: member2 still knows it.
    const sleeping = await multi.get<Operation>(sleeper.operation as string);
    assert.deepEqual(
      [sleeping.endpoint, sleeping.metadata.status, sleeping.metadata.location],
      [urlOf(1), 'Running', memberOf(1)],
    );
  });
});

async function text(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

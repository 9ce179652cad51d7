import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API, APIConnectionError, APIException, type LXDEvent } from '../src/index.ts';
import { runTsx } from './helpers/child.ts';
import { type ServerSocket, wsUnixServer } from './helpers/ws.ts';

const lifecycle = (action: string) =>
  JSON.stringify({
    type: 'lifecycle',
    timestamp: '2026-11-23T00:00:00Z',
    location: 'none',
    project: 'default',
    metadata: { action, source: '/1.0/instances/c1', requestor: null },
  });

describe('events', () => {
  let server: Awaited<ReturnType<typeof wsUnixServer>>;
  let api: API;
  const sockets: ServerSocket[] = [];
  before(async () => {
    server = await wsUnixServer(
      (req, res) => {
        if (!req.url?.includes('/hang/')) res.end();
      },
      (req) => {
        if (req.url?.includes('project=forbidden')) return 403;
        return (ws) => {
          sockets.push(ws);
          if (req.url?.includes('type=lifecycle')) ws.sendText(lifecycle('instance-created'));
        };
      },
    );
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('resolves once subscribed, sends type, project and all-projects, and types the events', async () => {
    const stream = await api.events({ type: ['lifecycle', 'operation'], project: 'p1', allProjects: true });
    const ws = sockets.at(-1) as ServerSocket;
    assert.equal(ws.url, '/1.0/events?type=lifecycle%2Coperation&project=p1&all-projects=true');
    const first = await stream.next();
    assert.equal(first.done, false);
    const event = first.value as LXDEvent;
    assert.equal(event.type, 'lifecycle');
    if (event.type === 'lifecycle') assert.equal(event.metadata.action, 'instance-created');
    await stream.close();
  });

  test('buffers what arrives before it is pulled, then ends cleanly when the server goes away', async () => {
    const stream = await api.events({ type: 'operation' });
    const ws = sockets.at(-1) as ServerSocket;
    for (const action of ['a', 'b', 'c']) ws.sendText(lifecycle(action));
    ws.sendText('not json');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(stream.buffered, 3);
    ws.destroy();
    const actions: string[] = [];
    for await (const event of stream)
      if (event.type === ('lifecycle' as string))
        actions.push((event.metadata as unknown as { action: string }).action);
    assert.deepEqual(actions, ['a', 'b', 'c']);
    const end = await stream.ended;
    assert.equal(end.by, 'server');
    assert.equal(end.code, 1006);
  });

  test('a server close frame ends the iteration with its code; break closes from the client side', async () => {
    const stream = await api.events();
    (sockets.at(-1) as ServerSocket).close(1001);
    for await (const _ of stream) assert.fail('no events expected');
    assert.deepEqual(await stream.ended, { by: 'server', code: 1001, reason: '' });

    const other = await api.events({ type: 'lifecycle' });
    for await (const _ of other) break;
    assert.equal((await other.ended).by, 'client');
    assert.equal((sockets.at(-1) as ServerSocket).received.at(-1)?.opcode, 0x8);
  });

  test('a refused subscription rejects with the HTTP status and the server error', async () => {
    await assert.rejects(api.events({ project: 'forbidden' }), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.equal(error.status, 403);
      assert.equal(
        error.message,
        'GET ws://lxd/1.0/events?project=forbidden not authorized (HTTP 403, websocket refused)',
      );
      return true;
    });
  });

  test('a missing socket rejects with APIConnectionError and the socket hint', async () => {
    const gone = await wsUnixServer(
      (_req, res) => res.end(),
      () => 400,
    );
    const stale = API.factory(gone.socketPath);
    await gone.close();
    await assert.rejects(stale.events(), (error: unknown) => {
      assert.ok(error instanceof APIConnectionError);
      assert.equal(error.code, 'ENOENT');
      assert.equal(
        error.message,
        `GET ws://lxd/1.0/events failed: connect ENOENT ${gone.socketPath} (socket ${gone.socketPath} does not exist: is LXD or Incus running? Set LXD_SOCKET or INCUS_SOCKET (or LXD_DIR, INCUS_DIR), or pass the socket path)`,
      );
      return true;
    });
    await stale.close();
  });

  test('an abort before the handshake rejects with the reason; after, it ends the iteration', async () => {
    const early = new AbortController();
    const reason = new Error('stop early');
    early.abort(reason);
    await assert.rejects(api.events({ signal: early.signal }), (error: unknown) => error === reason);
    const later = new AbortController();
    const stream = await api.events({ signal: later.signal });
    setTimeout(() => later.abort(), 50);
    for await (const _ of stream) assert.fail('no events expected');
    assert.equal((await stream.ended).by, 'abort');
  });

  test('an aborted events stream and wait leave nothing behind: the process exits by itself', async () => {
    const { code, output } = await runTsx(['test/fixtures/abort-child.ts', server.socketPath], 8000);
    assert.equal(code, 0, `child did not exit by itself: ${output}`);
    assert.equal(output, 'aborted events: abort\naborted wait: AbortError\n');
  });
});

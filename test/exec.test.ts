import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { API, APIException } from '../src/index.ts';
import { readAll } from './helpers/lxd.ts';
import { accepted, failure, operation, reply, sync } from './helpers/server.ts';
import { type ServerSocket, wsUnixServer } from './helpers/ws.ts';

/** An exec operation of the fake LXD: its secrets, its sockets once connected, and its end. */
interface FakeExec {
  id: string;
  body: Record<string, unknown>;
  secrets: Record<string, string>;
  sockets: Record<string, ServerSocket>;
  /** JSON text of each control message. */
  control: string[];
  result?: { return: number };
  waiters: ServerResponse[];
}

const texts = (ws: ServerSocket) =>
  ws.received.filter((frame) => frame.opcode === 0x1).map((frame) => frame.payload.toString('utf8'));

describe('api.exec() against a fake LXD', () => {
  let server: Awaited<ReturnType<typeof wsUnixServer>>;
  let api: API;
  const execs = new Map<string, FakeExec>();
  const upgrades: string[] = [];
  let count = 0;

  const finish = (exec: FakeExec, code: number) => {
    exec.result = { return: code };
    for (const res of exec.waiters.splice(0)) reply(res, 200, sync(state(exec)));
  };
  const state = (exec: FakeExec) =>
    operation(exec.id, {
      class: 'websocket',
      description: 'Executing command',
      ...(exec.result
        ? { status: 'Success', status_code: 200, metadata: exec.result }
        : { metadata: { fds: exec.secrets, command: exec.body.command } }),
    });

  /** What the command does once every websocket is connected, as LXD starts it then. */
  const run = (exec: FakeExec) => {
    const { sockets } = exec;
    if (exec.body.interactive) {
      // A terminal: input echoed on fd 0; a signal ends it (128 + n), LXD's barrier, then the client's barrier completes it.
      (sockets['0'] as ServerSocket).onFrame = (opcode, payload) => {
        if (opcode === 0x2) (sockets['0'] as ServerSocket).sendBinary(payload);
        if (opcode === 0x1 && payload.byteLength === 0) finish(exec, 143);
      };
      (sockets.control as ServerSocket).onFrame = (opcode, payload) => {
        if (opcode !== 0x1) return;
        const text = payload.toString('utf8');
        exec.control.push(text);
        if ((JSON.parse(text) as { command: string }).command === 'signal') {
          (sockets['0'] as ServerSocket).sendBinary(Buffer.from('bye\r\n'));
          (sockets['0'] as ServerSocket).sendText('');
        }
      };
      return;
    }
    // `cat`, with a warning on stderr: stdin to stdout until stdin's barrier, then exit 3.
    (sockets['2'] as ServerSocket).sendBinary(Buffer.from('warning: fake\n'));
    (sockets.control as ServerSocket).onFrame = (opcode, payload) => {
      if (opcode === 0x1) exec.control.push(payload.toString('utf8'));
    };
    (sockets['0'] as ServerSocket).onFrame = (opcode, payload) => {
      if (opcode === 0x2) (sockets['1'] as ServerSocket).sendBinary(payload);
      if (opcode === 0x1 && payload.byteLength === 0) {
        for (const fd of ['1', '2']) (sockets[fd] as ServerSocket).sendText('');
        finish(exec, 3);
        for (const ws of Object.values(sockets)) ws.close(1000);
      }
    };
  };

  before(async () => {
    server = await wsUnixServer(
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const url = new URL(req.url ?? '', 'http://lxd');
          // The server document, as LXD 5.0 has it: exec with cwd, user or group checks its extension first.
          if (req.method === 'GET' && url.pathname === '/1.0') {
            const environment = { server: 'lxd', server_version: '5.0.2' };
            return reply(res, 200, sync({ api_extensions: ['container_exec_user_group_cwd'], environment }));
          }
          const instance = /^\/1\.0\/instances\/([^/]+)\/exec$/.exec(url.pathname)?.[1];
          if (req.method === 'POST' && instance) {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            const id = `exec-${++count}`;
            if (instance === 'nows') return accepted(res, operation(id, { metadata: { command: body.command } }));
            const names = body.interactive ? ['0', 'control'] : ['0', '1', '2', 'control'];
            const secrets = Object.fromEntries(names.map((name) => [name, `${id}-secret-${name}-0123456789abcdef`]));
            const exec: FakeExec = { id, body, secrets, sockets: {}, control: [], waiters: [] };
            execs.set(id, exec);
            // "stale" hands out secrets the server no longer accepts.
            const handed =
              instance === 'stale'
                ? Object.fromEntries(names.map((name) => [name, `revoked-${name}-fedcba9876543210`]))
                : secrets;
            return accepted(res, { ...state(exec), metadata: { fds: handed, command: body.command } });
          }
          const wait = /^\/1\.0\/operations\/([^/]+)\/wait$/.exec(url.pathname)?.[1];
          const exec = wait ? execs.get(wait) : undefined;
          if (exec) {
            if (exec.result) return reply(res, 200, sync(state(exec)));
            exec.waiters.push(res);
            return;
          }
          reply(res, 404, failure(404, 'not found'));
        });
      },
      (req) => {
        upgrades.push(req.url ?? '');
        const url = new URL(req.url ?? '', 'http://lxd');
        const exec = execs.get(/^\/1\.0\/operations\/([^/]+)\/websocket$/.exec(url.pathname)?.[1] ?? '');
        if (!exec) return { status: 404, error: 'not found' };
        const name = Object.keys(exec.secrets).find((fd) => exec.secrets[fd] === url.searchParams.get('secret'));
        // LXD answers a wrong secret with os.ErrPermission: 403.
        if (name === undefined) return { status: 403, error: 'permission denied' };
        return (ws) => {
          exec.sockets[name] = ws;
          if (Object.keys(exec.sockets).length === Object.keys(exec.secrets).length) run(exec);
        };
      },
    );
    api = API.factory(server.socketPath);
  });
  after(async () => {
    await api.close();
    await server.close();
  });

  test('non-interactive: the request, one websocket per fd with its secret, stdin echoed, stderr apart, exit code 3', async () => {
    const session = await api.exec('c1', ['cat'], { env: { FOO: 'bar' }, cwd: '/root', user: 1000 });
    const exec = execs.get('exec-1') as FakeExec;
    assert.deepEqual(exec.body, {
      command: ['cat'],
      'wait-for-websocket': true,
      interactive: false,
      environment: { FOO: 'bar' },
      cwd: '/root',
      user: 1000,
    });
    assert.equal(session.interactive, false);
    assert.equal(session.result.operation, '/1.0/operations/exec-1');
    assert.deepEqual(
      upgrades.filter((url) => url.startsWith('/1.0/operations/exec-1/')).sort(),
      ['0', '1', '2', 'control']
        .map((fd) => `/1.0/operations/exec-1/websocket?secret=exec-1-secret-${fd}-0123456789abcdef`)
        .sort(),
    );
    const [stdout, stderr] = [readAll(session.stdout), readAll(session.stderr)];
    session.stdin.write('hello\n');
    session.stdin.end('world\n');
    assert.equal(await session.exitCode, 3);
    assert.equal(await stdout, 'hello\nworld\n');
    assert.equal(await stderr, 'warning: fake\n');
    // stdin ended with LXD's barrier: one empty text message after the data.
    assert.deepEqual(texts(exec.sockets['0'] as ServerSocket), ['']);
    const done = await session.done;
    assert.equal(done.metadata.status_code, 200);
    assert.deepEqual(done.metadata.metadata, { return: 3 });
  });

  test('interactive: resize and signal send the control messages LXD expects; the barrier is answered; exit code 143', async () => {
    const session = await api.exec('c1', ['sh'], { interactive: true, width: 80, height: 24 });
    const exec = execs.get(`exec-${count}`) as FakeExec;
    assert.deepEqual(exec.body, {
      command: ['sh'],
      'wait-for-websocket': true,
      interactive: true,
      environment: {},
      width: 80,
      height: 24,
    });
    assert.deepEqual(Object.keys(exec.sockets).sort(), ['0', 'control']);
    assert.equal(session.interactive, true);
    const output = readAll(session.stdout);
    session.stdin.write('hi\r');
    session.resize(100, 40);
    session.signal(15);
    assert.equal(await session.exitCode, 143);
    assert.equal(await output, 'hi\rbye\r\n');
    assert.equal(await readAll(session.stderr), '');
    assert.deepEqual(exec.control, [
      '{"command":"window-resize","args":{"width":"100","height":"40"}}',
      '{"command":"signal","signal":15}',
    ]);
    // LXD 5.0.2 completes an interactive exec only once the client has ended its side of fd 0: our barrier.
    assert.deepEqual(texts(exec.sockets['0'] as ServerSocket), ['']);
    // Once done, the control socket is closed too.
    session.close();
    assert.throws(() => session.resize(1, 1), { message: 'the control websocket is closed' });
  });

  test('a refused secret rejects with APIException 403, the secret redacted', async () => {
    await assert.rejects(api.exec('stale', ['true']), (error: unknown) => {
      assert.ok(error instanceof APIException);
      assert.equal(error.status, 403);
      assert.equal(
        error.message,
        `GET ws://lxd/1.0/operations/exec-${count}/websocket?secret=<redacted> permission denied (HTTP 403, websocket refused)`,
      );
      assert.doesNotMatch(error.message, /revoked|fedcba9876543210/);
      return true;
    });
  });

  test('an operation without websockets, and a bad command, are TypeErrors', async () => {
    await assert.rejects(api.exec('nows', ['true']), {
      name: 'TypeError',
      message: `POST ${api.endpoint}/1.0/instances/nows/exec: not an exec operation with websockets (no metadata.fds); send wait-for-websocket: true`,
    });
    const before = count;
    await assert.rejects(api.exec('c1', []), {
      name: 'TypeError',
      message: 'command must be a non-empty array of strings, e.g. ["sh", "-c", "echo hi"]',
    });
    for (const command of ['ls', ['ls', 1]] as unknown as string[][]) {
      await assert.rejects(api.exec('c1', command), {
        name: 'TypeError',
        message: 'command must be a non-empty array of strings, e.g. ["sh", "-c", "echo hi"]',
      });
    }
    assert.equal(count, before, 'nothing was sent');
  });

  test('an aborted signal rejects with its reason before the exec is sent', async () => {
    const before = count;
    const reason = new Error('never mind');
    await assert.rejects(
      api.exec('c1', ['true'], { signal: AbortSignal.abort(reason) }),
      (error: unknown) => error === reason,
    );
    assert.equal(count, before, 'nothing was sent');
  });

  test('the group option is sent as group', async () => {
    const session = await api.exec('c1', ['cat'], { user: 1000, group: 1001 });
    const exec = execs.get(`exec-${count}`) as FakeExec;
    assert.deepEqual([exec.body.user, exec.body.group], [1000, 1001]);
    session.stdin.end();
    assert.equal(await session.exitCode, 3);
  });
});

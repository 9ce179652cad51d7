// What the library must do for Incus 6.0 that it does not do yet (issue 15): each test
// replays the exact answer a real Incus 6.0.4 gave (recorded against the sandbox's
// incusd) on a local server, and is a todo until the library is fixed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, test } from 'node:test';
import { API, APIException, type Operation, socketCandidates } from '../src/index.ts';
import { selfSigned } from './helpers/certs.ts';
import { withEnv } from './helpers/env.ts';
import { accepted, failure, httpsServer, operation, reply, sync, unixServer } from './helpers/server.ts';

const id = '682d93dc-fc05-4706-9c0c-d9fcd425b60a';
const opUrl = `/1.0/operations/${id}`;

describe('Incus 6.0 answers the library does not handle yet', () => {
  test(
    'an error envelope is a failure whatever the status line: HTTP 200 {"type":"error"} rejects with its error',
    { todo: 'issue 15: validate() lets an error envelope behind HTTP 200 through' },
    async () => {
      // GET <operation>/wait of a failed start, as Incus 6.0.4 answers it (HTTP 200, chunked).
      const text = 'Failed to run: /usr/libexec/incus/incusd forkstart c1 /var/lib/incus/containers /var/lib/incus/run/c1/lxc.conf: exit status 1';
      const server = await unixServer((req, res) => {
        if (req.url === '/1.0/instances/c1/state') return accepted(res, operation(id, { description: 'Starting instance' }));
        if (req.url === `${opUrl}/wait?timeout=30`) return reply(res, 200, failure(500, text));
        return reply(res, 404, failure(404, 'not found'));
      });
      const api = API.factory(server.socketPath);
      try {
        const error = await api
          .put('instances/c1/state', { json: { action: 'start' } })
          .wait()
          .then(
            () => assert.fail('the failed start resolved'),
            (reason: unknown) => reason,
          );
        assert.ok(error instanceof APIException, String(error));
        assert.equal(error.message, `GET ${api.endpoint}${opUrl}/wait?timeout=30 ${text}`);
      } finally {
        await api.close();
        await server.close();
      }
    },
  );

  test(
    'wait({ timeout }) that runs out on Incus resolves with the operation still running (103), not metadata null',
    { todo: 'issue 15: Incus answers a /wait timeout with HTTP 200 and the error envelope "context deadline exceeded"' },
    async () => {
      const running = operation(id, { description: 'Executing command' });
      const server = await unixServer((req, res) => {
        if (req.url === '/1.0/instances/c1/exec') return accepted(res, running);
        if (req.url === `${opUrl}/wait?timeout=1`) return reply(res, 200, failure(500, 'context deadline exceeded'));
        if (req.url === opUrl) return reply(res, 200, sync(running));
        return reply(res, 404, failure(404, 'not found'));
      });
      const api = API.factory(server.socketPath);
      try {
        const exec = await api.post('instances/c1/exec', { json: { command: ['sleep', '3'] } });
        const first = await exec.wait({ timeout: 1 });
        assert.equal((first.metadata as Operation | null)?.status_code, 103);
        assert.equal(first.metadata.status, 'Running');
      } finally {
        await api.close();
        await server.close();
      }
    },
  );

  test(
    "API.factory() finds Incus's per-user socket, $INCUS_DIR/unix.socket.user, as Incus's client does",
    { todo: 'issue 15: unix.socket.user is not among the socket candidates' },
    () => {
      // incus-user serves unix.socket.user; Incus's client takes it when unix.socket is not writable
      // (and then uses the project user-<uid>).
      const candidates = socketCandidates({ INCUS_DIR: '/d' });
      assert.ok(candidates.includes('/d/unix.socket.user'), candidates.join(', '));
    },
  );

  test(
    'an explicit INCUS_DIR or INCUS_SOCKET comes before the default paths of LXD',
    { todo: "issue 15: /var/snap/lxd/... and /var/lib/lxd/unix.socket are tried before the user's INCUS_* variables" },
    () => {
      const candidates = socketCandidates({ INCUS_SOCKET: '/c.sock', INCUS_DIR: '/d' });
      assert.deepEqual(candidates.slice(0, 2), ['/c.sock', '/d/unix.socket']);
    },
  );

  test(
    "a TLS remote without cert and key uses Incus's client certificate, ~/.config/incus/client.crt",
    { todo: 'issue 15: only ~/.config/lxc and the snap folder are searched' },
    async () => {
      const serverPair = selfSigned('incus-test', ['IP:127.0.0.1']);
      const client = selfSigned('incus-client', []);
      const server = await httpsServer(
        (req, res) => reply(res, 200, sync({ client: (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN ?? null })),
        { ...serverPair, requestCert: true, rejectUnauthorized: false },
      );
      const home = mkdtempSync(join(tmpdir(), 'lxdapi-home-'));
      try {
        const folder = join(home, '.config', 'incus');
        mkdirSync(folder, { recursive: true });
        writeFileSync(join(folder, 'client.crt'), client.cert);
        writeFileSync(join(folder, 'client.key'), client.key);
        await withEnv({ HOME: home }, async () => {
          const api = API.factory(server.url, { serverCert: serverPair.cert });
          try {
            assert.equal((await api.get<{ client: string | null }>('')).metadata.client, 'incus-client');
          } finally {
            await api.close();
          }
        });
      } finally {
        await server.close();
        rmSync(home, { recursive: true, force: true });
      }
    },
  );
});

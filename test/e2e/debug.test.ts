// End to end: DEBUG=lxd dumps every transaction to stderr with the secrets
// (a trust password on LXD, a trust token on Incus, an exec's websocket
// secrets) replaced by <redacted>.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { selfSigned } from '../helpers/certs.ts';
import { lxd, perServer, serverName, skip, uniqueName, unixApi } from './helpers.ts';

const run = promisify(execFile);

describe(`DEBUG=lxd against ${serverName}`, skip, () => {
  test('dumps requests, bodies and statuses, and no secret', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxdapi-e2e-debug-'));
    const certName = uniqueName('e2e-dbg-cert');
    const instance = uniqueName('e2e-dbg');
    try {
      const pair = selfSigned(certName, []);
      writeFileSync(join(dir, 'client.crt'), pair.cert);
      writeFileSync(join(dir, 'client.key'), pair.key, { mode: 0o600 });
      const child = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          join(import.meta.dirname, 'fixtures', 'debug-child.ts'),
          join(dir, 'client.crt'),
          join(dir, 'client.key'),
          certName,
          instance,
        ],
        {
          env: { ...process.env, DEBUG: 'lxd', DEBUG_COLORS: '0' },
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      const result = JSON.parse(child.stdout) as {
        before: string;
        after: string;
        addedStatus: number;
        fds: Record<string, string>;
        operation: string;
        token?: string;
      };
      const dump = child.stderr;

      assert.equal(result.before, 'untrusted');
      assert.equal(result.addedStatus, 201);
      assert.equal(result.after, 'trusted');
      assert.deepEqual(Object.keys(result.fds).sort(), ['0', '1', '2', 'control']);
      for (const secret of Object.values(result.fds)) assert.match(secret, /^[0-9a-f]{64}$/);

      // The request lines, the JSON bodies and the statuses are there...
      const unix = unixApi();
      const endpoint = unix.endpoint;
      await unix.close();
      const added = perServer({
        lxd: `{\n    "type": "client",\n    "name": "${certName}",\n    "password": "<redacted>"\n}`,
        incus: `{\n    "type": "client",\n    "trust_token": "<redacted>"\n}`,
      });
      assert.ok(dump.includes(`lxd POST ${lxd.url}/1.0/certificates\n${added}\n`), dump);
      assert.ok(
        dump.includes(
          `lxd POST ${endpoint}/1.0/instances/${instance}/exec\n{\n    "command": [\n        "sleep",\n        "60"\n    ],\n    "wait-for-websocket": true,`,
        ),
      );
      assert.ok(dump.includes(`lxd GET ${lxd.url}/1.0\n`));
      assert.match(dump, /lxd HTTP\/201\n\{\n {4}"type": "sync",/);
      assert.match(dump, /lxd HTTP\/202\n\{\n {4}"type": "async",/);
      assert.match(
        dump,
        /"fds": \{\n {16}"0": "<redacted>",\n {16}"1": "<redacted>",\n {16}"2": "<redacted>",\n {16}"control": "<redacted>"\n {12}\}/,
      );
      assert.ok(dump.includes(`lxd DELETE ${endpoint}/1.0/instances/${instance}\n`));
      // ...and the secrets are not.
      if (lxd.trustPassword) assert.ok(!dump.includes(lxd.trustPassword), 'the trust password leaked into the dump');
      if (result.token) {
        assert.ok(!dump.includes(result.token), 'the trust token leaked into the dump');
        const secret = (JSON.parse(Buffer.from(result.token, 'base64').toString('utf8')) as { secret: string }).secret;
        assert.ok(!dump.includes(secret), "the trust token's secret leaked into the dump");
      }
      for (const [name, secret] of Object.entries(result.fds))
        assert.ok(!dump.includes(secret), `the websocket secret of fd ${name} leaked into the dump`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// End to end: API.join() with tokens the command lines mint, against the real LXD and Incus (see ./targets.ts),
// and examples/remote-and-trust.ts run as a user would.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { API, APIConnectionError, decodeTrustToken, type Server } from '../../src/index.ts';
import { selfSigned } from '../helpers/certs.ts';
import { runTsx } from '../helpers/child.ts';
import { withEnv } from '../helpers/env.ts';
import { sleep } from '../helpers/lxd.ts';
import { tokenFingerprint } from '../helpers/token.ts';
import { targets, useTarget } from './targets.ts';

const T = { timeout: 60_000 };

for (const { name, skip, get } of targets) {
  describe(`trust tokens on ${name}`, skip, () => {
    const ctx = useTarget(get);

    test('join with a fresh certificate, then use it', T, async () => {
      const fresh = selfSigned('lxdapi-e2e-join', []);
      const { clientName, token } = ctx.mintToken('e2e-join');
      ctx.certificates.add(tokenFingerprint(fresh.cert));
      const joined = await API.join(token, { ...fresh, project: ctx.project });
      ctx.opened.push(joined);
      assert.ok(new X509Certificate(joined.serverCertificate).raw.equals(new X509Certificate(ctx.serverPem).raw));
      assert.equal(joined.endpoint, ctx.server.url);
      const info = await joined.get<Server>('');
      assert.equal(info.metadata.auth, 'trusted');
      assert.deepEqual((await joined.get('instances')).metadata, []);
      // The server named the certificate after the token.
      const added = await ctx.admin.get<{ name: string }>(`certificates/${tokenFingerprint(fresh.cert)}`);
      assert.equal(added.metadata.name, clientName);
      // The saved certificate pins a plain factory() from now on.
      const again = ctx.open(API.factory(ctx.server.url, { ...fresh, serverCert: joined.serverCertificate }));
      assert.equal((await again.get<Server>('')).metadata.auth, 'trusted');
    });

    test(
      'a forged token (right address, wrong fingerprint) is refused; nothing is trusted; the real one works',
      T,
      async () => {
        const fresh = selfSigned('lxdapi-e2e-forged', []);
        const { token } = ctx.mintToken('e2e-forged');
        ctx.certificates.add(tokenFingerprint(fresh.cert));
        const fields = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Record<string, unknown>;
        const forged = Buffer.from(
          JSON.stringify({ ...fields, fingerprint: tokenFingerprint(ctx.untrustedPair.cert) }),
        );
        const error = await API.join(forged.toString('base64'), fresh).catch((e: unknown) => e);
        assert.ok(error instanceof APIConnectionError, String(error));
        assert.equal(error.code, 'ERR_LXD_CERT_PIN_MISMATCH');
        assert.ok(!error.message.includes(fields.secret as string));
        assert.equal(await ctx.isTrusted(fresh), false);

        const joined = await API.join(token, fresh);
        ctx.opened.push(joined);
        assert.equal((await joined.get<Server>('')).metadata.auth, 'trusted');
        assert.equal(await ctx.isTrusted(fresh), true);
      },
    );

    test('examples/remote-and-trust.ts lists a configured remote and joins with a token', T, async () => {
      const example = join(import.meta.dirname, '..', '..', 'examples', 'remote-and-trust.ts');
      const configDir = ctx.configFolder(
        ctx.remoteYaml({ work: { addr: ctx.server.url, project: ctx.project } }, 'work'),
        {
          'servercerts/work.crt': ctx.serverPem,
        },
      );
      const vars =
        ctx.server.kind === 'lxd' ? { LXD_CONF: configDir, LXC_REMOTE: undefined } : { INCUS_CONF: configDir };
      const listed = await withEnv({ LXD_CONF: undefined, INCUS_CONF: undefined, ...vars }, () =>
        runTsx([example, 'list'], 30_000),
      );
      assert.equal(listed.output, `${ctx.server.url} project ${ctx.project}: 0 instance(s)\n`);
      assert.equal(listed.code, 0);

      const fresh = selfSigned('lxdapi-e2e-example', []);
      const { clientName, token } = ctx.mintToken('e2e-example');
      ctx.certificates.add(tokenFingerprint(fresh.cert));
      const dir = mkdtempSync(join(ctx.root, 'example-'));
      writeFileSync(join(dir, 'client.crt'), fresh.cert);
      writeFileSync(join(dir, 'client.key'), fresh.key);
      const files = ['client.crt', 'client.key', 'server.crt'].map((file) => join(dir, file));
      const joined = await runTsx([example, 'join', token, ...files], 30_000);
      const version = (await ctx.admin.get<Server>('')).metadata.environment.server_version;
      const address = new URL(ctx.server.url).host;
      const expected = [
        `joining as ${clientName} through ${address}`,
        `${ctx.server.url}: trusted, ${ctx.server.kind} ${version}`,
      ];
      assert.equal(joined.output, `${expected.join('\n')}\n`);
      assert.equal(joined.code, 0);
      assert.ok(
        new X509Certificate(readFileSync(files[2] as string)).raw.equals(new X509Certificate(ctx.serverPem).raw),
      );

      // The same token for another certificate: used, so the server refuses it, in one line.
      const other = selfSigned('lxdapi-e2e-example-2', []);
      writeFileSync(join(dir, 'client.crt'), other.cert);
      writeFileSync(join(dir, 'client.key'), other.key);
      const again = await runTsx([example, 'join', token, ...files], 30_000);
      assert.equal(again.code, 1);
      assert.match(again.output, /^joining as .*\nAPIException ERR_LXD_API: POST https:\/\/\S+\/1\.0\/certificates /);
      assert.match(again.output, / No matching certificate add operation found\n$/);
      assert.ok(!again.output.includes(token));
      assert.equal(await ctx.isTrusted(other), false);
    });

    test('an expired token and a malformed one are TypeErrors; nothing is trusted', T, async () => {
      const fresh = selfSigned('lxdapi-e2e-expired', []);
      let minted: { token: string };
      ctx.server.cli(['config', 'set', 'core.remote_token_expiry', '1S']);
      try {
        minted = ctx.mintToken('e2e-expired');
      } finally {
        ctx.server.cli(['config', 'unset', 'core.remote_token_expiry']);
      }
      const expiresAt = Date.parse(decodeTrustToken(minted.token).expires_at as string);
      await sleep(Math.max(0, expiresAt - Date.now()) + 100);
      await assert.rejects(API.join(minted.token, fresh), (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /^the trust token expired at \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ s ago\)/);
        return true;
      });
      const { token } = ctx.mintToken('e2e-malformed');
      for (const bad of [token.slice(0, -5), `x${token}`, 'hello']) {
        await assert.rejects(API.join(bad, fresh), TypeError);
      }
      assert.equal(await ctx.isTrusted(fresh), false);
    });
  });
}

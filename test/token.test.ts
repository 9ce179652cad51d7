import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { decodeTrustToken } from '../src/index.ts';
import { trustToken } from './helpers/token.ts';

const SECRET = 'a1'.repeat(32);
const T = { timeout: 5000 };

test('a token decodes to its fields; the secret is there but out of dumps', T, () => {
  const token = trustToken({
    client_name: 'ci',
    fingerprint: 'AB'.repeat(32),
    addresses: ['10.0.0.1:8443', '[fd00::1]:8443'],
    secret: SECRET,
    expires_at: '2099-01-01T00:00:00.123456789Z',
  });
  const decoded = decodeTrustToken(`  ${token}\n`);
  assert.deepEqual(decoded, {
    client_name: 'ci',
    fingerprint: 'ab'.repeat(32),
    addresses: ['10.0.0.1:8443', '[fd00::1]:8443'],
    expires_at: '2099-01-01T00:00:00.123456789Z',
  });
  assert.equal(decoded.secret, SECRET);
  assert.ok(!JSON.stringify(decoded).includes(SECRET));
  assert.ok(!inspect(decoded).includes(SECRET));
});

test("Go's zero time, an empty or absent expires_at: the token never expires", T, () => {
  for (const expires_at of ['0001-01-01T00:00:00Z', '', undefined, null]) {
    const decoded = decodeTrustToken(trustToken({ expires_at }));
    assert.equal(decoded.expires_at, undefined);
    assert.ok(!('expires_at' in decoded));
  }
  assert.equal(decodeTrustToken(trustToken({ type: 'client' })).type, 'client');
});

test('an expired token is a TypeError that says when it expired', T, () => {
  const token = trustToken({ expires_at: '2026-12-01T10:00:00Z', secret: SECRET });
  assert.throws(() => decodeTrustToken(token, new Date('2026-12-01T10:00:30Z')), {
    name: 'TypeError',
    message: 'the trust token expired at 2026-12-01T10:00:00Z (30 s ago): ask the server for a new one',
  });
  assert.equal(decodeTrustToken(token, new Date('2026-12-01T09:59:59Z')).expires_at, '2026-12-01T10:00:00Z');
});

test('a malformed token is a TypeError saying what is wrong, never quoting the token or its secret', T, () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const cases: Array<[unknown, string]> = [
    [42, 'a trust token is a string, got number'],
    [null, 'a trust token is a string, got null'],
    ['  ', 'the trust token is empty'],
    [`${SECRET}!`, 'the trust token is not base64: copy the whole line `lxc config trust add` printed'],
    [
      trustToken({ secret: SECRET }).slice(0, -3),
      'the trust token is not base64: copy the whole line `lxc config trust add` printed',
    ],
    [b64(`{"secret":"${SECRET}"`), 'the trust token is base64, but not of JSON: it is not a trust token'],
    [b64('[1]'), 'the trust token is not a JSON object: it is not a trust token'],
    [trustToken({ client_name: 1, secret: SECRET }), "the trust token's client_name is not a string"],
    [
      trustToken({ fingerprint: 'ab:cd', secret: SECRET }),
      "the trust token's fingerprint is not a SHA-256 fingerprint (64 hex digits)",
    ],
    [trustToken({ addresses: [], secret: SECRET }), "the trust token's addresses are missing: no server to join"],
    [
      trustToken({ addresses: ['a:1', 2], secret: SECRET }),
      "the trust token's addresses are not all host:port strings",
    ],
    [trustToken({ secret: '' }), "the trust token's secret is missing"],
    [trustToken({ type: 5, secret: SECRET }), "the trust token's type is not a string"],
    [trustToken({ expires_at: 'soon', secret: SECRET }), `the trust token's expires_at ("soon") is not a date`],
    [trustToken({ expires_at: 7, secret: SECRET }), "the trust token's expires_at is not a date"],
  ];
  for (const [token, message] of cases) {
    assert.throws(
      () => decodeTrustToken(token as string),
      (error: unknown) => {
        assert.ok(error instanceof TypeError, String(token));
        assert.equal(error.message, message);
        assert.ok(!error.message.includes(SECRET));
        return true;
      },
    );
  }
});

import { createHash, randomBytes, X509Certificate } from 'node:crypto';

/** A trust token as LXD prints it: base64 of the JSON fields, with defaults for the ones not given. */
export function trustToken(fields: Record<string, unknown>): string {
  const token = {
    client_name: 'joiner',
    fingerprint: '0'.repeat(64),
    addresses: ['127.0.0.1:8443'],
    secret: randomBytes(32).toString('hex'),
    expires_at: '0001-01-01T00:00:00Z',
    ...fields,
  };
  return Buffer.from(JSON.stringify(token)).toString('base64');
}

/** The fingerprint a token carries for a certificate: SHA-256 of its DER, lowercase hex. */
export function tokenFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

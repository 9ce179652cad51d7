// Certificates read from the command line's folder, checked when they are read so that a broken file is named
// before any connection is made. Messages name files or options, never their contents.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { type CertFiles, readCertificateFile } from './cli-config.ts';
import { RemoteConfigError } from './errors.ts';

const UNREADABLE = 'ERR_LXD_REMOTE_CERT_UNREADABLE';

/** The client certificate and key of `files`, both PEM and a pair; `what` says who needs them, for messages. */
export function loadClientPair(files: CertFiles, what: string): { cert: Buffer; key: Buffer } {
  const missing = [files.cert, files.key].filter((file) => !existsSync(file));
  if (missing.length > 0) {
    const list = missing.length === 2 ? `${missing[0]} and ${missing[1]} do not exist` : `${missing[0]} does not exist`;
    const make = '`lxc remote add` or `incus remote add` makes them; or pass cert and key';
    const message = `${what} needs a client certificate, and ${list} (${make})`;
    throw new RemoteConfigError(message, 'ERR_LXD_REMOTE_CERT_MISSING', { file: missing[0] as string });
  }
  const cert = readCertificateFile(files.cert, 'the client certificate');
  const key = readCertificateFile(files.key, 'the client key');
  checkCertificate(cert, files.cert);
  try {
    createPrivateKey(key);
  } catch (error) {
    const encrypted = (error as { code?: string }).code === 'ERR_MISSING_PASSPHRASE';
    const why = encrypted ? 'is encrypted, and lxdapi cannot ask for its passphrase' : 'is not a PEM private key';
    throw new RemoteConfigError(`the client key ${files.key} ${why}`, UNREADABLE, { file: files.key, cause: error });
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const message = `the client key ${files.key} is not the private key of ${files.cert}`;
    throw new RemoteConfigError(message, UNREADABLE, { file: files.key, cause: error });
  }
  return { cert, key };
}

/** A certificate file's bytes, checked to be PEM; undefined when `optional` and the file does not exist. */
export function loadCertificate(file: string, what: string, optional: boolean): Buffer | undefined {
  if (optional && !existsSync(file)) return undefined;
  const pem = readCertificateFile(file, what);
  checkCertificate(pem, file, what);
  return pem;
}

function checkCertificate(pem: Buffer, file: string, what = 'the client certificate'): void {
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new RemoteConfigError(`${what} ${file} is not a PEM certificate`, UNREADABLE, { file, cause: error });
  }
}

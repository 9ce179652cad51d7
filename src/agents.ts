// The undici dispatchers factory() builds: a unix socket, or TLS with client certificate, pin or CA.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { Agent } from 'undici';

/** A dispatcher for a local unix socket. */
export function unixAgent(socketPath: string): Agent {
  return new Agent({ connect: { socketPath } });
}

export interface TlsSettings {
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  serverCert?: string | Buffer | undefined;
  ca?: string | Buffer | Array<string | Buffer> | undefined;
  /** The folder that cert and key were read from when the caller gave none (`~/.config/lxc`), for messages. */
  clientFolder?: string | undefined;
}

/** Where the command lines keep their client certificate: `lxc`'s own folder, the snap's, then `incus`'s. */
export function defaultClientCertificate(home = homedir()): { cert: Buffer; key: Buffer; folder: string } | undefined {
  const folders = [
    join(home, '.config', 'lxc'),
    join(home, 'snap', 'lxd', 'common', 'config'),
    join(home, '.config', 'incus'),
  ];
  for (const folder of folders) {
    const cert = join(folder, 'client.crt');
    const key = join(folder, 'client.key');
    if (existsSync(cert) && existsSync(key)) return { cert: readFileSync(cert), key: readFileSync(key), folder };
  }
  return undefined;
}

/**
 * A dispatcher for a TLS remote. With `serverCert`, the connection is
 * accepted if and only if the server presents exactly that certificate,
 * whatever host name the URL uses (what `lxc` does with the certificates it
 * keeps in `servercerts/`): the certificate is the only trust anchor and the
 * host-name check is replaced by a byte comparison. Otherwise the system's
 * (or the given `ca`'s) chain and host-name checks apply. Verification is
 * never turned off.
 */
export function tlsAgent(settings: TlsSettings): Agent {
  checkClientPair(settings);
  const connect: Record<string, unknown> = { rejectUnauthorized: true };
  if (settings.cert !== undefined) connect.cert = settings.cert;
  if (settings.key !== undefined) connect.key = settings.key;
  if (settings.serverCert !== undefined) {
    const pinned = certificate('serverCert', settings.serverCert);
    connect.ca = settings.serverCert;
    connect.checkServerIdentity = (_host: string, peer: PeerCertificate) => {
      if (peer.raw?.equals(pinned.raw)) return undefined;
      return Object.assign(
        new Error(`server certificate ${peer.fingerprint256} is not the pinned ${pinned.fingerprint256}`),
        {
          code: 'ERR_LXD_CERT_PIN_MISMATCH',
        },
      );
    };
  } else if (settings.ca !== undefined) {
    // OpenSSL skips CA entries it cannot parse without a word: each must be a certificate.
    for (const pem of Array.isArray(settings.ca) ? settings.ca : [settings.ca]) certificate('ca', pem);
    connect.ca = settings.ca;
  }
  return new Agent({ connect });
}

/**
 * Loads the client certificate and key once, when the API is built: a PEM that does not parse, or
 * a key that is not the certificate's, fails here with a TypeError instead of on every request as
 * an OpenSSL code. The messages name the option (or lxc's file), never its contents.
 */
function checkClientPair(settings: TlsSettings): void {
  const { cert, key, clientFolder: folder } = settings;
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError(
      `a client certificate needs both cert and key; only ${cert === undefined ? 'key' : 'cert'} was given`,
    );
  }
  if (cert === undefined || key === undefined) return;
  const name = (option: 'cert' | 'key') =>
    folder === undefined ? `the ${option} option` : join(folder, option === 'cert' ? 'client.crt' : 'client.key');
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH')
      throw new TypeError(`${name('key')} is not the private key of ${name('cert')}`, { cause: error });
    // Which of the two did not parse: the certificate alone tells.
    let culprit: 'cert' | 'key' = 'key';
    try {
      createSecureContext({ cert });
    } catch {
      culprit = 'cert';
    }
    throw new TypeError(`${name(culprit)} could not be read as PEM: ${(error as Error).message}`, { cause: error });
  }
}

/** A PEM certificate parsed, or a TypeError naming the option. */
function certificate(option: string, pem: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new TypeError(`the ${option} option is not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
}

/** The fingerprint (SHA-256, colon-separated) of a PEM certificate, for messages. */
export function fingerprint(pem: string | Buffer): string {
  return new X509Certificate(pem).fingerprint256;
}

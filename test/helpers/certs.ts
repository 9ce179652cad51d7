import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  cert: string;
  key: string;
}

/**
 * Certificates for the TLS tests, made with the openssl command line. Every
 * certificate is an EC P-256 key pair, fresh for each test process.
 */
export function selfSigned(
  commonName: string,
  altNames: string[],
  validity: { days?: number; start?: string; end?: string } = {},
): Pair {
  return withDir((dir) => {
    const config = join(dir, 'openssl.cnf');
    writeFileSync(config, opensslConfig(dir, commonName, altNames));
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'key.pem')]);
    openssl(['req', '-new', '-key', join(dir, 'key.pem'), '-out', join(dir, 'req.csr'), '-config', config]);
    if (validity.start || validity.end) {
      // `openssl ca` is the one 3.0 command that takes explicit dates, for expired and not-yet-valid certificates.
      writeFileSync(join(dir, 'index.txt'), '');
      writeFileSync(join(dir, 'serial'), '1000\n');
      openssl([
        'ca',
        '-batch',
        '-selfsign',
        '-config',
        config,
        '-name',
        'ca_default',
        '-keyfile',
        join(dir, 'key.pem'),
        '-in',
        join(dir, 'req.csr'),
        '-out',
        join(dir, 'cert.pem'),
        '-startdate',
        validity.start ?? '20200101000000Z',
        '-enddate',
        validity.end ?? '20990101000000Z',
        '-notext',
        '-extensions',
        'ext',
      ]);
    } else {
      openssl([
        'x509',
        '-req',
        '-in',
        join(dir, 'req.csr'),
        '-signkey',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        String(validity.days ?? 30),
        '-extfile',
        config,
        '-extensions',
        'ext',
      ]);
    }
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  });
}

/** A CA, and a server certificate it signs. */
export function signedBy(ca: Pair, commonName: string, altNames: string[]): Pair {
  return withDir((dir) => {
    const config = join(dir, 'openssl.cnf');
    writeFileSync(config, opensslConfig(dir, commonName, altNames));
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'key.pem')]);
    openssl(['req', '-new', '-key', join(dir, 'key.pem'), '-out', join(dir, 'req.csr'), '-config', config]);
    openssl([
      'x509',
      '-req',
      '-in',
      join(dir, 'req.csr'),
      '-CA',
      join(dir, 'ca.pem'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '30',
      '-extfile',
      config,
      '-extensions',
      'ext',
    ]);
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  });
}

function opensslConfig(dir: string, commonName: string, altNames: string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${commonName}`,
    '[ext]',
    'basicConstraints = critical,CA:TRUE',
    'keyUsage = digitalSignature,keyCertSign',
    'extendedKeyUsage = serverAuth,clientAuth',
    ...(altNames.length ? [`subjectAltName = ${altNames.join(',')}`] : []),
    '[ca_default]',
    `dir = ${dir}`,
    'database = $dir/index.txt',
    'serial = $dir/serial',
    'new_certs_dir = $dir',
    'default_md = sha256',
    'policy = policy_any',
    'copy_extensions = none',
    '[policy_any]',
    'commonName = supplied',
    '',
  ].join('\n');
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function withDir<T>(work: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-certs-'));
  try {
    return work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

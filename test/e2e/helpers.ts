// Shared pieces of the end-to-end suites: they run against a real LXD (the
// sandbox of scripts/lxd-sandbox.sh, or any LXD described by the same
// LXD_TEST_* exports) and prove things through the library only. The `lxc`
// command line is never used to decide an assertion.
//
// The same suites run against a real Incus: scripts/run-tests.mjs maps the
// sandbox's INCUS_TEST_* onto LXD_TEST_* and sets LXD_TEST_SERVER=incus.
// Where the two servers answer differently, a test says what each one does
// (`perServer`).
//
// Every API built here checks each JSON response against the generated types
// (./schema-check.ts): importing this module makes each e2e file fail at its
// end when the real LXD contradicted them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type API, APINotFoundException, type Operation } from '../../src/index.ts';
import { removeInstance, uniqueName } from '../helpers/lxd.ts';
import { checked, checkedFactory } from './schema-check.ts';

export { removeInstance, uniqueName };

/** The server of this run: LXD_TEST_SERVER, `lxd` unless it says `incus`. */
export const server: 'lxd' | 'incus' = process.env.LXD_TEST_SERVER === 'incus' ? 'incus' : 'lxd';
/** `LXD` or `Incus`, for test titles: the output names the server each run is against. */
export const serverName = server === 'incus' ? 'Incus' : 'LXD';
/** The variable that names the daemon's folder for `API.factory()` and the server's own client. */
export const dirVariable = server === 'incus' ? 'INCUS_DIR' : 'LXD_DIR';

/** What this run's server does: `perServer({ lxd: ..., incus: ... })`. */
export function perServer<T>(values: { lxd: T; incus: T }): T {
  return values[server];
}

/** The LXD_TEST_* exports of `scripts/lxd-sandbox.sh up` (or `scripts/lxd-existing.sh`). */
export interface LxdTestEnv {
  dir: string;
  socket: string;
  url: string;
  serverCert: string;
  clientCert: string;
  clientKey: string;
  untrustedCert: string;
  untrustedKey: string;
  image: string;
  imageTarball: string;
  noinitTarball: string;
  /** LXD's core.trust_password; Incus has none (tokens only). */
  trustPassword: string | undefined;
}

function readEnv(): LxdTestEnv | string {
  const env = process.env;
  if (!env.LXD_TEST_SOCKET)
    return `no ${serverName}: LXD_TEST_SOCKET is not set (run \`scripts/lxd-sandbox.sh up\`, then \`npm test\`)`;
  if (!existsSync(env.LXD_TEST_SOCKET)) return `no ${serverName}: ${env.LXD_TEST_SOCKET} does not exist`;
  const names = [
    'LXD_TEST_DIR',
    'LXD_TEST_URL',
    'LXD_TEST_SERVER_CERT',
    'LXD_TEST_CLIENT_CERT',
    'LXD_TEST_CLIENT_KEY',
    'LXD_TEST_UNTRUSTED_CERT',
    'LXD_TEST_UNTRUSTED_KEY',
    'LXD_TEST_IMAGE',
    'LXD_TEST_IMAGE_TARBALL',
    'LXD_TEST_NOINIT_TARBALL',
    ...(server === 'lxd' ? ['LXD_TEST_TRUST_PASSWORD'] : []),
  ];
  const missing = names.filter((name) => !env[name]);
  // LXD_E2E=required (CI) makes a half-configured environment a failure, not a skip.
  if (missing.length > 0 && env.LXD_E2E === 'required')
    throw new Error(`LXD_E2E=required but ${missing.join(', ')} not set`);
  if (missing.length > 0) return `no ${serverName}: ${missing.join(', ')} not set`;
  const get = (name: string) => env[name] as string;
  return {
    dir: get('LXD_TEST_DIR'),
    socket: env.LXD_TEST_SOCKET,
    url: get('LXD_TEST_URL'),
    serverCert: get('LXD_TEST_SERVER_CERT'),
    clientCert: get('LXD_TEST_CLIENT_CERT'),
    clientKey: get('LXD_TEST_CLIENT_KEY'),
    untrustedCert: get('LXD_TEST_UNTRUSTED_CERT'),
    untrustedKey: get('LXD_TEST_UNTRUSTED_KEY'),
    image: get('LXD_TEST_IMAGE'),
    imageTarball: get('LXD_TEST_IMAGE_TARBALL'),
    noinitTarball: get('LXD_TEST_NOINIT_TARBALL'),
    trustPassword: env.LXD_TEST_TRUST_PASSWORD,
  };
}

const found = readEnv();
/** The environment, when an LXD is there (check `skip` first). */
export const lxd = (typeof found === 'string' ? undefined : found) as LxdTestEnv;
/** `{ skip: 'no LXD: ...' }` for `describe()` when no LXD is there, else `{}`. */
export const skip: { skip?: string } = typeof found === 'string' ? { skip: found } : {};

/** A client of the test daemon's unix socket; its JSON responses are checked against the generated types. */
export function unixApi(project?: string): API {
  return checkedFactory(lxd.socket, project === undefined ? {} : { project });
}

/**
 * A client of the test daemon over HTTPS, pinned to its certificate, with the
 * trusted client certificate unless `as` says otherwise; its JSON responses
 * are checked against the generated types.
 */
export function tlsApi(
  as: { cert: Buffer; key: Buffer } = { cert: readFileSync(lxd.clientCert), key: readFileSync(lxd.clientKey) },
  url = lxd.url,
): API {
  return checkedFactory(url, { serverCert: readFileSync(lxd.serverCert), ...as });
}

/** The PEM files of the TLS exports. */
export function tlsFiles() {
  return {
    serverCert: readFileSync(lxd.serverCert),
    cert: readFileSync(lxd.clientCert),
    key: readFileSync(lxd.clientKey),
    untrustedCert: readFileSync(lxd.untrustedCert),
    untrustedKey: readFileSync(lxd.untrustedKey),
  };
}

/** Deletes an image (by fingerprint) if it exists. */
export async function removeImage(api: API, fingerprint: string): Promise<void> {
  try {
    await api.delete(`images/${fingerprint}`).wait();
  } catch (error) {
    if (!(error instanceof APINotFoundException)) throw error;
  }
}

/**
 * A copy of a unified image tarball whose metadata.yaml carries `tag` in its
 * description, so that its fingerprint is new: uploading it never collides
 * with the sandbox's images or another run's. Returns the path; `cleanup()`
 * removes it.
 */
export function taggedTarball(source: string, tag: string): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-e2e-image-'));
  try {
    const tree = join(dir, 'tree');
    execFileSync('mkdir', ['-p', tree]);
    execFileSync('tar', ['-xzf', source, '-C', tree, '--numeric-owner']);
    const metadata = join(tree, 'metadata.yaml');
    const text = readFileSync(metadata, 'utf8');
    assert.match(text, /^ {2}description: /m, `${source}: no properties.description in metadata.yaml`);
    writeFileSync(metadata, text.replace(/^( {2}description: ).*$/m, `$1lxdapi e2e ${tag}`));
    const path = join(dir, 'image.tar.gz');
    execFileSync('tar', ['-czf', path, '-C', tree, '--numeric-owner', 'metadata.yaml', 'rootfs']);
    return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The output of an exec operation: its `return` and the paths of its recorded logs. */
export interface ExecMetadata {
  return: number;
  output: Record<string, string>;
}

/**
 * The main flow of an instance, through `api` (unix socket or HTTPS): create
 * from the test image, start, exec with recorded output read back, file push
 * and pull (binary), snapshot, stop, delete.
 */
export async function instanceLifecycle(given: API, name: string): Promise<void> {
  // The caller's API, but with its JSON responses checked (the flow asserts no connection-error hint).
  const api = checked(given);
  try {
    const created = await api.post('instances', { json: { name, source: { type: 'image', alias: lxd.image } } });
    assert.equal(created.status, 202);
    assert.match(created.operation ?? '', /^\/1\.0\/operations\/[0-9a-f-]{36}$/);
    const createdOp = await created.wait();
    assert.equal(createdOp.metadata.status_code, 200);
    assert.deepEqual(createdOp.metadata.resources?.instances, [`/1.0/instances/${name}`]);

    const started = await api.put(`instances/${name}/state`, { json: { action: 'start' } }).wait();
    assert.equal(started.metadata.status, 'Success');
    const state = await api.get<{ status: string; status_code: number }>(`instances/${name}/state`);
    assert.equal(state.metadata.status, 'Running');

    // exec with record-output: the operation's metadata names the log files, read back raw.
    const exec = await api
      .post(`instances/${name}/exec`, {
        json: {
          command: ['sh', '-c', 'printf "out:%s\\n" "$(hostname)"; echo err >&2; exit 3'],
          'record-output': true,
          'wait-for-websocket': false,
          interactive: false,
        },
      })
      .wait();
    const execMetadata = (exec.metadata as Operation & { metadata: ExecMetadata }).metadata;
    assert.equal(execMetadata.return, 3);
    // LXD 5.0 keeps exec logs in the instance's log folder, Incus 6.0 in its exec-output/ subfolder.
    const logs = perServer({ lxd: 'logs', incus: 'logs/exec-output' });
    assert.match(
      execMetadata.output['1'] ?? '',
      new RegExp(`^/1\\.0/instances/${name}/${logs}/exec_[0-9a-f-]{36}\\.stdout$`),
    );
    const stdout = await api.get(execMetadata.output['1'] as string);
    assert.equal(stdout.data, undefined, 'a log is a raw body, not an envelope');
    assert.equal(stdout.response.headers['content-type'], 'application/octet-stream');
    assert.equal(Buffer.from(stdout.body ?? []).toString('utf8'), `out:${name}\n`);
    const stderr = await api.get(execMetadata.output['2'] as string);
    assert.equal(Buffer.from(stderr.body ?? []).toString('utf8'), 'err\n');

    // file push and pull: raw bodies both ways, every byte value. Both servers take LXD's
    // X-LXD-* request headers (Incus documents X-Incus-* only, but honours X-LXD-* too); the
    // pulled file's come back as X-LXD-* from LXD and as X-Incus-* from Incus, raw, as the
    // server sent them. (api.pushFile() and api.pullFile() are the one way for both: test/e2e/files.test.ts.)
    const prefix = perServer({ lxd: 'x-lxd', incus: 'x-incus' });
    const other = perServer({ lxd: 'x-incus', incus: 'x-lxd' });
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(64 * 1024)]);
    const pushed = await api.post(`instances/${name}/files`, {
      query: { path: '/root/blob.bin' },
      body: bytes,
      headers: { 'X-LXD-uid': '1000', 'X-LXD-gid': '1001', 'X-LXD-mode': '0640', 'X-LXD-type': 'file' },
    });
    assert.equal(pushed.status, 200);
    const pulled = await api.get(`instances/${name}/files`, { query: { path: '/root/blob.bin' } });
    assert.ok(Buffer.from(pulled.body ?? []).equals(bytes), 'pulled bytes equal pushed bytes');
    assert.equal(pulled.response.headers[`${prefix}-type`], 'file');
    assert.equal(pulled.response.headers[`${prefix}-uid`], '1000');
    assert.equal(pulled.response.headers[`${prefix}-gid`], '1001');
    assert.equal(pulled.response.headers[`${prefix}-mode`], '0640');
    assert.equal(pulled.response.headers[`${other}-mode`], undefined);
    // a directory answers with a JSON listing instead.
    const listing = await api.get<string[]>(`instances/${name}/files`, { query: { path: '/root' } });
    assert.deepEqual(listing.metadata, ['blob.bin']);
    assert.equal(listing.response.headers[`${prefix}-type`], 'directory');

    const snapshot = await api.post(`instances/${name}/snapshots`, { json: { name: 'snap0' } }).wait();
    assert.equal(snapshot.metadata.status_code, 200);
    const snapshots = await api.get<string[]>(`instances/${name}/snapshots`);
    assert.deepEqual(snapshots.metadata, [`/1.0/instances/${name}/snapshots/snap0`]);

    const stopped = await api.put(`instances/${name}/state`, { json: { action: 'stop', force: true } }).wait();
    assert.equal(stopped.metadata.status_code, 200);
    assert.equal((await api.get<{ status: string }>(`instances/${name}/state`)).metadata.status, 'Stopped');

    const deleted = await api.delete(`instances/${name}`).wait();
    assert.equal(deleted.metadata.status_code, 200);
    await assert.rejects(api.get(`instances/${name}`), APINotFoundException);
  } finally {
    await removeInstance(api, name);
  }
}

/** `text` as a literal inside a RegExp. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

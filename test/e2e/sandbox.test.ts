// The sandbox script itself, from a clone under a private folder (mode 0700, as /root
// is): `up` keeps the daemon's state where containers can reach it, a container starts,
// `down` removes all of it; and where the daemon's state could not be reached, `up`
// refuses at once and says why. Daemons of its own (LXD, and Incus beside it as `up`
// brings it), apart from the ones the other e2e suites use. Needs root and Debian's lxd
// package (the sandbox's; the snap on GitHub's runners is not it). It runs once, in the LXD
// pass of the e2e suites: the Incus pass would only run it again.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { API } from '../../src/index.ts';
import { removeInstance, uniqueName } from '../helpers/lxd.ts';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function why(): string | undefined {
  if (process.env.LXD_TEST_SERVER === 'incus') return 'run once, in the LXD pass (it brings up both servers)';
  if (process.getuid?.() !== 0) return 'the sandbox needs root';
  try {
    if (execFileSync('dpkg-query', ['-W', `-f=\${Status}`, 'lxd'], { encoding: 'utf8' }) === 'install ok installed')
      return undefined;
  } catch {}
  return "the sandbox needs Debian's lxd package";
}
const reason = why();

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the private clone's lxd-sandbox.sh with an environment that names no other daemon. */
function sandbox(clone: string, args: string[], extra: Record<string, string> = {}): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  const others = ['LXD_DIR', 'LXD_CONF', 'LXD_SOCKET', 'LXD_SANDBOX_DIR', 'LXD_CLUSTER_SIZE', 'LXD_SANDBOX_INCUS'];
  for (const name of [...others, 'INCUS_DIR', 'INCUS_CONF', 'INCUS_SOCKET']) delete env[name];
  if (!extra.LXD_SANDBOX_DATA_ROOT) delete env.LXD_SANDBOX_DATA_ROOT;
  const started = performance.now();
  return new Promise((done) => {
    execFile(
      'bash',
      [join(clone, 'scripts', 'lxd-sandbox.sh'), ...args],
      { env, timeout: 180_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        done({ status, stdout, stderr, ms: performance.now() - started });
      },
    );
  });
}

describe('scripts/lxd-sandbox.sh from a clone under a private folder', reason ? { skip: reason } : {}, () => {
  let home: string;
  let clone: string;
  before(() => {
    home = mkdtempSync('/tmp/lxdapi-private-');
    chmodSync(home, 0o700);
    clone = join(home, 'lxdapi');
    mkdirSync(clone);
    cpSync(join(root, 'scripts'), join(clone, 'scripts'), { recursive: true });
  });
  after(async () => {
    // Whatever failed: the daemon goes, and with it the data folder.
    const down = await sandbox(clone, ['down']);
    rmSync(home, { recursive: true, force: true });
    assert.equal(down.status, 0, down.stderr);
  });

  test("up keeps the daemons' state where containers reach it, a container starts on each, down removes it all", {
    timeout: 300_000,
  }, async () => {
    const up = await sandbox(clone, ['up']);
    assert.equal(up.status, 0, up.stderr);
    const state = join(clone, '.lxd-sandbox');
    const data = readlinkSync(join(state, 'data'));
    assert.match(data, /^\/var\/lib\/lxdapi-sandbox\/[0-9a-f]{12}$/);
    assert.ok(
      up.stderr.includes(`the daemons' state (LXD_DIR, storage) is in ${data}, linked from ${state}/data`),
      up.stderr,
    );
    assert.equal(statSync(data).mode & 0o777, 0o711);
    const exports = Object.fromEntries([...up.stdout.matchAll(/^export ([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
    assert.equal(exports.LXD_TEST_SOCKET, `${data}/var/unix.socket`);
    assert.equal(exports.INCUS_TEST_SOCKET, `${data}/incus/unix.socket`);

    for (const prefix of ['LXD_TEST', 'INCUS_TEST']) {
      const api = API.factory(exports[`${prefix}_SOCKET`] as string);
      const name = uniqueName('sbx');
      try {
        const source = { type: 'image', alias: exports[`${prefix}_IMAGE`] as string };
        await api.post('instances', { json: { name, source } }).wait();
        await api.put(`instances/${name}/state`, { json: { action: 'start', timeout: 30 } }).wait();
        const running = await api.get(`instances/${name}/state`);
        assert.equal(running.metadata.status, 'Running', `${prefix}: the container runs`);
        await removeInstance(api, name);
      } finally {
        await api.close();
      }
    }

    const down = await sandbox(clone, ['down']);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(existsSync(data), false, `${data} is gone`);
    assert.equal(existsSync(state), false, `${state} is gone`);
  });

  test('a data folder that containers could not reach: up refuses at once, saying why and what to do', {
    timeout: 60_000,
  }, async () => {
    const up = await sandbox(clone, ['up'], { LXD_SANDBOX_DATA_ROOT: join(home, 'data') });
    assert.equal(up.status, 1);
    assert.ok(up.ms < 10_000, `refused after ${Math.round(up.ms)} ms`);
    assert.match(
      up.stderr,
      new RegExp(
        `error: ${home} is mode 700: others may not search it, so the containers' unprivileged root could not reach`,
      ),
    );
    assert.match(up.stderr, /chmod o\+x|LXD_SANDBOX_DATA_ROOT/);
    assert.equal(up.stdout, '');
    assert.throws(() => lstatSync(join(home, 'data')), { code: 'ENOENT' });
  });
});

// `npm test`'s own settings: a setting it does not know ends the run at once with exit 2 and
// says which, before any test runs, rather than being read as "skip" or "no server".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const script = join(import.meta.dirname, '..', 'scripts', 'run-tests.mjs');

/**
 * Runs scripts/run-tests.mjs with only these settings: no sandbox exports, no server of the caller's.
 * LXD_TEST_TIMEOUT=guard stops it (exit 2) at the last check before any work, so that a check that
 * no longer holds fails its assertions instead of starting the whole suite, this file included.
 */
function runTests(settings: Record<string, string>) {
  const empty = mkdtempSync(join(tmpdir(), 'lxdapi-run-tests-'));
  try {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      LXD_SANDBOX_DIR: empty,
      LXD_TEST_TIMEOUT: 'guard',
      ...settings,
    };
    return spawnSync(process.execPath, [script], { env, encoding: 'utf8', timeout: 30_000 });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
}

describe('npm test settings', () => {
  it('refuses an LXD_E2E it does not know', () => {
    const run = runTests({ LXD_E2E: 'yes' });
    assert.equal(run.status, 2);
    assert.equal(run.stderr, 'LXD_E2E=yes: expected required, skip or nothing\n');
  });

  it('refuses a server name in LXD_E2E_SERVERS it does not know', () => {
    const run = runTests({ LXD_E2E: 'required', LXD_E2E_SERVERS: 'lxd, Incus' });
    assert.equal(run.status, 2);
    assert.equal(run.stderr, 'LXD_E2E_SERVERS=lxd, Incus: unknown Incus (expected a list of lxd and incus)\n');
  });

  it('refuses an LXD_TEST_TIMEOUT that is not a number of milliseconds, before the type tests', () => {
    const run = runTests({ LXD_E2E: 'skip', LXD_TEST_TIMEOUT: '5s' });
    assert.equal(run.status, 2);
    assert.equal(run.stdout, 'e2e: skipped (LXD_E2E=skip); cluster: skipped\n');
    assert.equal(run.stderr, 'LXD_TEST_TIMEOUT=5s: expected a number of milliseconds\n');
  });

  it('fails, naming the server and how to get one, when a required server is not reachable', () => {
    const run = runTests({ LXD_E2E: 'required', LXD_E2E_SERVERS: 'incus' });
    assert.equal(run.status, 1);
    assert.equal(
      run.stdout,
      'e2e (lxd): skipped, no LXD reachable (run `scripts/lxd-sandbox.sh up` or set LXD_TEST_SOCKET)\n',
    );
    assert.equal(
      run.stderr,
      'e2e: LXD_E2E=required but no Incus is reachable: run `scripts/lxd-sandbox.sh up` or set INCUS_TEST_SOCKET (LXD_E2E_SERVERS=lxd requires LXD alone)\n',
    );
  });
});

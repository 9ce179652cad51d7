import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { InstanceState } from '../../src/index.ts';
import { dirVariable, lxd, removeInstance, serverName, skip, uniqueName, unixApi } from './helpers.ts';

const root = join(import.meta.dirname, '..', '..');

/** The README's snippet under `heading`, as users copy it. */
function snippet(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`\n## ${heading}\n`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match?.[1], `no snippet under ${heading}`);
  return match[1];
}

describe(`the README's quick start, run as written against the real ${serverName}`, skip, () => {
  test(`finds the socket through ${dirVariable}, reads /1.0, creates and starts an instance, and exits cleanly`, async () => {
    const name = uniqueName('e2e-readme');
    const dir = mkdtempSync(join(root, 'test', '.readme-'));
    const api = unixApi();
    try {
      // Only the instance name changes, so that the run cannot clash with anything on the daemon.
      const code = snippet('Quick start')
        .replaceAll("'c1'", `'${name}'`)
        .replaceAll('instances/c1/', `instances/${name}/`)
        .replace("from 'lxdapi'", `from '${pathToFileURL(join(root, 'src', 'index.ts')).href}'`);
      assert.ok(code.includes(name) && !code.includes('c1/state'));
      writeFileSync(join(dir, 'quick-start.mts'), code);
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of ['LXD_DIR', 'LXD_SOCKET', 'INCUS_DIR', 'INCUS_SOCKET']) delete env[name];
      env[dirVariable] = lxd.dir;
      delete env.DEBUG;
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', join(dir, 'quick-start.mts')],
        { cwd: root, env, encoding: 'utf8', timeout: 120_000 },
      );
      const server = await api.get('');
      assert.equal(stdout, `${server.metadata.environment.server_version} ${server.metadata.api_extensions.length}\n`);
      assert.equal(stderr, '');
      const state = await api.get<InstanceState>(`instances/${name}/state`);
      assert.equal(state.metadata.status, 'Running');
    } finally {
      await removeInstance(api, name);
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

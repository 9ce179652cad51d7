import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { VERSION } from '../src/index.ts';

test('a clean clone packs itself; the tarball ships what it should, and a new project can import, require and type-check it', async () => {
  const { stdout } = await promisify(execFile)(
    'bash',
    [join(import.meta.dirname, '..', 'scripts', 'check-package.sh')],
    {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.equal(VERSION, version, 'VERSION follows package.json');
  const lines = stdout.trim().split('\n');
  assert.equal(lines[1]?.replace(/\(\d+ files\)$/, '(n files)'), 'contents: ok (n files)', stdout);
  assert.deepEqual(lines.toSpliced(1, 1), [
    'clean-clone pack: ok',
    'clean build: ok',
    'publint: ok',
    'attw: ok',
    'import: ok',
    `require: ok ${version}`,
    'types: ok',
    process.env.LXDAPI_PACKAGE_GIT === 'skip' ? 'git install: skipped (LXDAPI_PACKAGE_GIT=skip)' : 'git install: ok',
  ]);
});

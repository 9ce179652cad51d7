import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { VERSION } from '../src/index.ts';

test('the packed tarball passes publint and attw, and a new project can import, require and type-check it', async () => {
  const { stdout } = await promisify(execFile)(
    'bash',
    [join(import.meta.dirname, '..', 'scripts', 'check-package.sh')],
    {
      encoding: 'utf8',
      // CI=true (GitHub Actions, .ci/run) turns on publint's colours, and 'All good!' would not be a line of its own.
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const lines = stdout.split('\n');
  assert.ok(lines.includes('All good!'), stdout);
  assert.ok(lines.includes('import: ok'), stdout);
  const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.equal(VERSION, version, 'VERSION follows package.json');
  assert.ok(lines.includes(`require: ok ${version}`), stdout);
  assert.ok(lines.includes('types: ok'), stdout);
});

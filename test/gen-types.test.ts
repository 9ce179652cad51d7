import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const GENERATED = ['src/generated/lxd-types.ts', 'src/generated/lxd-routes.ts', 'test/generated/lxd-schema.json'];

function findSpec(): string | undefined {
  const candidates = [
    process.env.LXD_SPEC,
    join(root, '../shared/lxd/rest-api-5.0.yaml'),
    '/work/shared/lxd/rest-api-5.0.yaml',
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

test('the committed generated files are what scripts/gen-types.ts makes from the spec', (t) => {
  const spec = findSpec();
  if (!spec) {
    t.skip('LXD spec not found: set LXD_SPEC or put rest-api-5.0.yaml at ../shared/lxd/');
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'lxdapi-gen-'));
  try {
    execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/gen-types.ts'), spec, out], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    for (const rel of GENERATED) {
      const fresh = readFileSync(join(out, rel));
      const committed = readFileSync(join(root, rel));
      assert.ok(fresh.equals(committed), `${rel} differs from the generator's output: run npm run gen-types`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

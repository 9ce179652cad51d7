import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const generator = join(root, 'scripts/gen-types.ts');
// CI (.ci/run) always has the descriptions beside the clone: there, not finding one is a failure, not a skip.
// LXD_SPEC=skip says a run cannot have them (GitHub Actions' runners).
const required = !!process.env.CI && process.env.LXD_SPEC !== 'skip';

const descriptions = [
  {
    server: 'lxd',
    variable: 'LXD_SPEC',
    shared: '../shared/lxd/rest-api-5.0.yaml',
    source: 'canonical/lxd, stable-5.0, doc/rest-api.yaml',
  },
  {
    server: 'incus',
    variable: 'INCUS_SPEC',
    shared: '../shared/incus/rest-api-6.0.4.yaml',
    source: 'lxc/incus, v6.0.4, doc/rest-api.yaml',
  },
] as const;

for (const { server, variable, shared, source } of descriptions) {
  test(`the committed generated files of ${server} are what scripts/gen-types.ts makes from its description`, (t) => {
    const spec = [process.env[variable], join(root, shared)].find(
      (p): p is string => !!p && p !== 'skip' && existsSync(p),
    );
    if (!spec) {
      const where = `set ${variable} to its description or put it at ${shared} (${source})`;
      if (required)
        assert.fail(`CI is set but the ${server} description is not at hand: ${where}, or set LXD_SPEC=skip`);
      t.skip(`${server} description not found: ${where}`);
      return;
    }
    const out = mkdtempSync(join(tmpdir(), 'lxdapi-gen-'));
    try {
      execFileSync(process.execPath, ['--import', 'tsx', generator, spec, out], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const generated = [`src/generated/${server}-types.ts`, `src/generated/${server}-routes.ts`];
      for (const rel of [...generated, `test/generated/${server}-schema.json`]) {
        const fresh = readFileSync(join(out, rel));
        const committed = readFileSync(join(root, rel));
        assert.ok(
          fresh.equals(committed),
          `${rel} differs from the generator's output: run npm run gen-types -- ${spec}`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test('a description whose sha256 is not a known one is refused, with the known ones and their source', () => {
  const out = mkdtempSync(join(tmpdir(), 'lxdapi-gen-'));
  try {
    const spec = join(out, 'rest-api.yaml');
    writeFileSync(spec, "swagger: '2.0'\ninfo: { title: not LXD }\npaths: {}\ndefinitions: {}\n");
    const run = spawnSync(process.execPath, ['--import', 'tsx', generator, spec, out], { cwd: root, encoding: 'utf8' });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /has sha256 [0-9a-f]{64}, which is none of the known descriptions/);
    assert.match(
      run.stderr,
      /f59fa816bc19156be5005eeab30a18dabf64b653d923acf781041f24f4c70d32 {2}doc\/rest-api\.yaml of the stable-5\.0 branch of https:\/\/github\.com\/canonical\/lxd/,
    );
    assert.match(
      run.stderr,
      /8bc620c59016451a0c7f2d312ab9a2612aa294b31fbf77edcc64aeafdeb58ba3 {2}doc\/rest-api\.yaml of tag v6\.0\.4 of https:\/\/github\.com\/lxc\/incus/,
    );
    assert.equal(existsSync(join(out, 'src')), false, 'nothing was written');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

#!/usr/bin/env bash
# Builds and packs lxdapi, then proves the tarball works for a new project:
# publint and attw (esm-only) pass, `import` and `require` both load it on this
# Node, and TypeScript sees its types. Used by test/package.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx --no-install publint --strict
npx --no-install attw --pack . --profile esm-only --format table-flipped
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "./$tarball" typescript@~5.9 @types/node@20 >/dev/null
node --input-type=module -e "import { API, APIException, StatusCode } from 'lxdapi'; if (typeof API.factory !== 'function' || StatusCode.Running !== 103 || !(new APIException('m', { status: 500 }) instanceof Error)) process.exit(1); console.log('import: ok');"
node -e "const { API, VERSION } = require('lxdapi'); if (typeof API.factory !== 'function') process.exit(1); console.log('require: ok ' + VERSION);"
cat > check.ts <<'TS'
import { API, type Instance, type APIResult } from 'lxdapi';
export async function names(api: API): Promise<string[]> {
  const result: APIResult<Instance[]> = await api.get('instances', { query: { recursion: 1 } });
  return result.metadata.map((instance) => instance.name);
}
TS
npx --no-install tsc --strict --module nodenext --moduleResolution nodenext --noEmit check.ts
echo 'types: ok'

#!/usr/bin/env bash
# Proves that what a new user gets works, as a new user gets it: a clean copy of this
# clone (the files git tracks or would add: no node_modules, no dist, no build output),
# `npm ci`, then `npm pack` with no dist present, which must build the package by itself
# (the prepare script). Then:
#   - the tarball holds exactly package.json, README.md, LICENSE, CHANGELOG.md and one
#     .js and one .d.ts per src/**/*.ts, and `npm publish --dry-run` lists the same;
#   - a stale file left in dist/ does not survive the next pack (the build starts clean);
#   - publint and attw (esm-only) pass on the tarball;
#   - a fresh project installs it, `import`s and `require`s it on this Node, and
#     TypeScript type-checks code that uses it;
#   - a project that installs the copy from git (git+file://) gets a built package
#     (unless LXDAPI_PACKAGE_GIT=skip).
# Prints one "<what>: ok" line per check. Used by test/package.test.ts.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/lxdapi-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() {
	printf 'check-package: %s\n' "$*" >&2
	exit 1
}
quiet() { "$@" >"$work/out.log" 2>&1 || { cat "$work/out.log" >&2; fail "failed: $*"; }; }

# The clean copy: what git tracks or would add, as it is in the working tree.
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || fail "$repo is not a git clone"
mkdir "$work/clone"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [[ -e "$repo/$f" ]] && printf '%s\0' "$f"; done |
	tar -C "$repo" --null -T - -cf - | tar -C "$work/clone" -xf -
cd "$work/clone"
# A commit of the copy, for the install from git below.
quiet git init -q
quiet git add -A
quiet git -c user.name=check-package -c user.email=check-package@localhost commit -q --no-verify -m 'check-package snapshot'
# --ignore-scripts: the clone's own prepare would build here, and the point is that pack does.
quiet npm ci --ignore-scripts --no-audit --no-fund --prefer-offline
[[ ! -e dist ]] || fail "dist exists in a clean clone before npm pack"
tarball="$work/$(npm pack --silent --pack-destination "$work" 2>"$work/pack.log" | tail -n 1)"
[[ -f "$tarball" ]] || { cat "$work/pack.log" >&2; fail "npm pack made no tarball"; }
echo 'clean-clone pack: ok'

{
	printf 'package/%s\n' package.json README.md LICENSE CHANGELOG.md
	(cd src && find . -name '*.ts' ! -name '*.d.ts' | sed 's|^\./||; s|\.ts$||') |
		while IFS= read -r f; do printf 'package/dist/%s.js\npackage/dist/%s.d.ts\n' "$f" "$f"; done
} | sort >"$work/expected"
tar -tzf "$tarball" | grep -v '/$' | sort >"$work/packed"
diff -u "$work/expected" "$work/packed" >&2 || fail "the tarball does not hold exactly what should ship (- expected, + packed)"
# --ignore-scripts: dist is built; the dry run only lists what it would send.
npm publish --dry-run --json --ignore-scripts 2>/dev/null |
	node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const r=JSON.parse(s);const m=r.files?r:Object.values(r)[0];console.log(m.files.map((f)=>"package/"+f.path).sort().join("\n"))})' |
	sort >"$work/published"
diff -u "$work/packed" "$work/published" >&2 || fail "npm publish --dry-run lists other files than npm pack packs"
echo "contents: ok ($(wc -l <"$work/packed") files)"

mkdir -p dist/old
touch dist/stale.js dist/old/stale.d.ts
mkdir "$work/again"
npm pack --silent --pack-destination "$work/again" >/dev/null 2>"$work/pack.log" || { cat "$work/pack.log" >&2; fail "second npm pack failed"; }
tar -tzf "$work/again/"*.tgz | grep -v '/$' | sort | diff -u "$work/packed" - >&2 || fail "a stale file in dist/ was packed"
echo 'clean build: ok'

NO_COLOR=1 quiet node_modules/.bin/publint run --strict "$tarball"
echo 'publint: ok'
quiet node_modules/.bin/attw "$tarball" --profile esm-only --format table-flipped
echo 'attw: ok'

mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
quiet npm install --no-audit --no-fund --prefer-offline "$tarball" typescript@~5.9 @types/node@20
node --input-type=module -e "import { API, APIException, StatusCode } from 'lxdapi'; if (typeof API.factory !== 'function' || StatusCode.Running !== 103 || !(new APIException('m', { status: 500 }) instanceof Error)) process.exit(1); console.log('import: ok');"
node -e "const { API, VERSION } = require('lxdapi'); if (typeof API.factory !== 'function') process.exit(1); console.log('require: ok ' + VERSION);"
cat >check.ts <<'TS'
import { API, type Instance, type APIResult } from 'lxdapi';
export async function names(api: API): Promise<string[]> {
  const result: APIResult<Instance[]> = await api.get('instances', { query: { recursion: 1 } });
  return result.metadata.map((instance) => instance.name);
}
TS
node_modules/.bin/tsc --strict --module nodenext --moduleResolution nodenext --noEmit check.ts
echo 'types: ok'

# From git, npm clones, installs the dev dependencies and runs prepare before it packs.
# That is npm's doing, the same on every Node: .ci/run's runs on other Nodes skip it.
if [[ "${LXDAPI_PACKAGE_GIT:-}" == skip ]]; then
	echo 'git install: skipped (LXDAPI_PACKAGE_GIT=skip)'
	exit 0
fi
mkdir "$work/from-git"
cd "$work/from-git"
npm init -y >/dev/null
quiet npm install --no-audit --no-fund --prefer-offline "git+file://$work/clone"
node --input-type=module -e "import { API } from 'lxdapi'; if (typeof API.factory !== 'function') process.exit(1); console.log('git install: ok');"

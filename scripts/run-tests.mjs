#!/usr/bin/env node
// `npm test`: the type tests, then one `node --test` run over the unit suite
// and, when an LXD is reachable, the end-to-end suites, so that the run ends
// with one set of counts.
//
// LXD is reachable when the environment names it (LXD_TEST_SOCKET, or
// LXD_SOCKET for a daemon of your own) or when `scripts/lxd-sandbox.sh up`
// left its exports in .lxd-sandbox/env (LXD_SANDBOX_DIR moves that folder).
// LXD_E2E=required turns "no LXD" from a skip into a failure (CI sets it), and
// "no cluster" too while test/cluster has tests, unless LXD_CLUSTER=skip.
// LXD_E2E=skip runs the unit suite alone, whatever LXD is reachable (.ci/run's
// runs on the other Node versions).
//
// No run can hang: every test has a timeout (LXD_TEST_TIMEOUT ms, default 300000;
// a test's own `timeout` wins; on Node 20 and 22 it bounds each file as a whole
// too), and --test-force-exit ends each file once its tests and hooks are done,
// so that a socket left open after a failed assertion cannot keep it alive (on
// Node 24 and later that would hang the run for good). The suites still close
// what they open; the no-leak guarantees are tested in child processes of their own.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
const state = resolve(root, env.LXD_SANDBOX_DIR ?? '.lxd-sandbox');

loadExports(join(state, 'env'));
loadExports(join(state, 'cluster', 'env'));
if (!env.LXD_TEST_SOCKET && env.LXD_SOCKET) env.LXD_TEST_SOCKET = env.LXD_SOCKET;

const files = (folder) =>
  existsSync(join(root, folder))
    ? readdirSync(join(root, folder))
        .filter((name) => name.endsWith('.test.ts'))
        .sort()
        .map((name) => join(folder, name))
    : [];

const suites = files('test');
const e2e = env.LXD_E2E ?? '';
if (!['', 'required', 'skip'].includes(e2e)) {
  console.error(`LXD_E2E=${e2e}: expected required, skip or nothing`);
  process.exit(2);
}
const lxd = env.LXD_TEST_SOCKET && existsSync(env.LXD_TEST_SOCKET);
if (e2e === 'skip') {
  console.log('e2e: skipped (LXD_E2E=skip); cluster: skipped');
} else if (lxd) {
  suites.push(...files('test/e2e'));
  console.log(`e2e: against the LXD at ${env.LXD_TEST_SOCKET}${env.LXD_TEST_URL ? ` and ${env.LXD_TEST_URL}` : ''}`);
} else if (env.LXD_E2E === 'required') {
  console.error('e2e: LXD_E2E=required but no LXD is reachable: run `scripts/lxd-sandbox.sh up` or set LXD_TEST_SOCKET');
  process.exit(1);
} else {
  console.log('e2e: skipped, no LXD reachable (run `scripts/lxd-sandbox.sh up`, or set LXD_TEST_SOCKET)');
}
if (e2e === 'skip') {
  // Said above.
} else if (env.LXD_CLUSTER_URLS) {
  suites.push(...files('test/cluster'));
  console.log(`cluster: against ${env.LXD_CLUSTER_URLS}`);
} else if (files('test/cluster').length > 0) {
  if (env.LXD_E2E === 'required' && env.LXD_CLUSTER !== 'skip') {
    console.error('cluster: LXD_E2E=required but no cluster is up: run `scripts/lxd-sandbox.sh cluster up`');
    process.exit(1);
  }
  console.log('cluster: skipped, no cluster up (run `scripts/lxd-sandbox.sh cluster up`)');
}

const types = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'test/types', '--noEmit'], { cwd: root, stdio: 'inherit', env });
if (types.status !== 0) {
  console.error('type tests: failed');
  process.exit(1);
}
console.log('type tests: passed');

const timeout = env.LXD_TEST_TIMEOUT ?? '300000';
if (!/^[1-9][0-9]*$/.test(timeout)) {
  console.error(`LXD_TEST_TIMEOUT=${timeout}: expected a number of milliseconds`);
  process.exit(2);
}
const flags = ['--test', '--test-reporter', 'spec', `--test-timeout=${timeout}`, '--test-force-exit'];
const run = spawnSync(process.execPath, ['--import', 'tsx', ...flags, ...process.argv.slice(2), ...suites], { cwd: root, stdio: 'inherit', env });
process.exit(run.status ?? 1);

function loadExports(file) {
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match && env[match[1]] === undefined) env[match[1]] = match[2].replace(/^'(.*)'$/, '$1');
  }
}

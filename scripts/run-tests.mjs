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
//
// Incus is reachable the same way through INCUS_TEST_* (the sandbox's
// .lxd-sandbox/incus/env). Then the e2e suites run a second time, in a second
// `node --test`, with INCUS_TEST_* mapped onto the LXD_TEST_* the e2e helpers
// read and LXD_TEST_SERVER=incus (the first run has LXD_TEST_SERVER=lxd); the
// run ends with one `total:` line over both. LXD_E2E=required requires each
// server of LXD_E2E_SERVERS (default: lxd,incus).
//
// A setting it does not know (LXD_E2E, a name in LXD_E2E_SERVERS, LXD_TEST_TIMEOUT)
// ends the run with exit 2 before any test runs; a required server that is not
// reachable, with exit 1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
const state = resolve(root, env.LXD_SANDBOX_DIR ?? '.lxd-sandbox');

loadExports(join(state, 'env'));
loadExports(join(state, 'cluster', 'env'));
loadExports(join(state, 'incus', 'env'));
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
// Each server's exports, and how its e2e run is told apart (LXD's is the run of the unit suite too).
const servers = {
  lxd: { title: 'LXD', prefix: 'LXD_TEST', run: '' },
  incus: { title: 'Incus', prefix: 'INCUS_TEST', run: ', in a second run' },
};
const required = e2e === 'required' ? (env.LXD_E2E_SERVERS ?? 'lxd,incus').split(',').map((name) => name.trim()).filter(Boolean) : [];
const unknown = required.filter((name) => !(name in servers));
if (unknown.length > 0) {
  console.error(`LXD_E2E_SERVERS=${env.LXD_E2E_SERVERS}: unknown ${unknown.join(', ')} (expected a list of lxd and incus)`);
  process.exit(2);
}
let lxd = false;
let incus = false;
if (e2e === 'skip') {
  console.log('e2e: skipped (LXD_E2E=skip); cluster: skipped');
} else {
  lxd = reachable('lxd');
  if (lxd) suites.push(...files('test/e2e'));
  incus = reachable('incus');
  if (env.LXD_CLUSTER_URLS) {
    suites.push(...files('test/cluster'));
    console.log(`cluster: against ${env.LXD_CLUSTER_URLS}`);
  } else if (files('test/cluster').length > 0) {
    if (e2e === 'required' && env.LXD_CLUSTER !== 'skip') {
      console.error('cluster: LXD_E2E=required but no cluster is up: run `scripts/lxd-sandbox.sh cluster up`');
      process.exit(1);
    }
    console.log('cluster: skipped, no cluster up (run `scripts/lxd-sandbox.sh cluster up`)');
  }
}

const timeout = env.LXD_TEST_TIMEOUT ?? '300000';
if (!/^[1-9][0-9]*$/.test(timeout)) {
  console.error(`LXD_TEST_TIMEOUT=${timeout}: expected a number of milliseconds`);
  process.exit(2);
}

const types = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'test/types', '--noEmit'], { cwd: root, stdio: 'inherit', env });
if (types.status !== 0) {
  console.error('type tests: failed');
  process.exit(1);
}
console.log('type tests: passed');

const flags = ['--test', `--test-timeout=${timeout}`, '--test-force-exit'];
// Each run reports with spec on stdout, and with scripts/test-counts.mjs into a file that gives the totals.
const counts = mkdtempSync(join(tmpdir(), 'lxdapi-tests-'));
const runs = [[lxd ? 'unit and lxd' : 'unit', suites, { ...env, LXD_TEST_SERVER: 'lxd' }]];
if (incus) runs.push(['incus', files('test/e2e'), incusEnv()]);
const totals = { pass: 0, fail: 0, skipped: 0, todo: 0 };
let status = 0;
const reporter = pathToFileURL(join(root, 'scripts', 'test-counts.mjs')).href;
for (const [index, [name, list, runEnv]] of runs.entries()) {
  if (runs.length > 1) console.log(`\n== ${name}: ${list.length} test files`);
  const file = join(counts, `${index}.counts`);
  const reporters = ['--test-reporter', 'spec', '--test-reporter-destination', 'stdout', '--test-reporter', reporter, '--test-reporter-destination', 'stdout'];
  const args = ['--import', 'tsx', ...flags, ...reporters, ...process.argv.slice(2), ...list];
  const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...runEnv, LXDAPI_TEST_COUNTS: file } });
  if (run.status !== 0) status = run.status ?? 1;
  const letters = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const count = (letter) => letters.split(letter).length - 1;
  totals.pass += count('p');
  totals.fail += count('f');
  totals.skipped += count('s');
  totals.todo += count('t');
}
rmSync(counts, { recursive: true, force: true });
if (runs.length > 1) {
  console.log(`\n${runs.map(([name]) => name).join(' + ')}: ${totals.todo} todo`);
  console.log(`total: ${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
}
process.exit(status);

/**
 * Whether the e2e suites can run against this server (its <PREFIX>_SOCKET exists), said
 * either way; a server LXD_E2E=required requires that is not reachable ends the run.
 */
function reachable(server) {
  const { title, prefix, run } = servers[server];
  const socket = env[`${prefix}_SOCKET`];
  const url = env[`${prefix}_URL`];
  if (socket && existsSync(socket)) {
    console.log(`e2e (${server}): against the ${title} at ${socket}${url ? ` and ${url}` : ''}${run}`);
    return true;
  }
  const how = `run \`scripts/lxd-sandbox.sh up\` or set ${prefix}_SOCKET`;
  if (required.includes(server)) {
    const alone = Object.keys(servers).find((other) => other !== server);
    console.error(`e2e: LXD_E2E=required but no ${title} is reachable: ${how} (LXD_E2E_SERVERS=${alone} requires ${servers[alone].title} alone)`);
    process.exit(1);
  }
  console.log(`e2e (${server}): skipped, no ${title} reachable (${how})`);
  return false;
}

/** The environment of the Incus run: INCUS_TEST_* as LXD_TEST_*, no trust password, LXD_TEST_SERVER=incus. */
function incusEnv() {
  const mapped = { ...env, LXD_TEST_SERVER: 'incus' };
  for (const name of Object.keys(mapped)) if (name.startsWith('LXD_TEST_') && name !== 'LXD_TEST_SERVER') delete mapped[name];
  for (const [name, value] of Object.entries(env)) if (name.startsWith('INCUS_TEST_')) mapped[`LXD_TEST_${name.slice('INCUS_TEST_'.length)}`] = value;
  return mapped;
}

function loadExports(file) {
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match && env[match[1]] === undefined) env[match[1]] = match[2].replace(/^'(.*)'$/, '$1');
  }
}

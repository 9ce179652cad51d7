import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkResponse, matchRoute } from './helpers/schema.ts';
import { created, failure, operation, sync } from './helpers/server.ts';

// What LXD 5.0.2 (Debian 12's lxd package) answers to GET /1.0 for a trusted client.
const server = {
  config: { 'core.https_address': '[::]:8443' },
  api_extensions: ['storage_zfs_remove_snapshots', 'container_host_shutdown_timeout', 'instances'],
  api_status: 'stable',
  api_version: '1.0',
  auth: 'trusted',
  public: false,
  auth_methods: ['tls'],
  environment: {
    addresses: ['10.0.0.2:8443'],
    architectures: ['x86_64', 'i686'],
    certificate: '-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n',
    certificate_fingerprint: '5c6bd5bdc83d4e2f27c4f0d1d1a0f6c9a3d7f2e1b0c9d8e7f6a5b4c3d2e1f0a9',
    driver: 'lxc | qemu',
    driver_version: '5.0.2 | 7.2.0',
    firewall: 'nftables',
    kernel: 'Linux',
    kernel_architecture: 'x86_64',
    kernel_features: {
      idmapped_mounts: 'true',
      netnsid_getifaddrs: 'true',
      seccomp_listener: 'true',
      shiftfs: 'false',
    },
    kernel_version: '6.1.0-18-amd64',
    lxc_features: {
      cgroup2: 'true',
      mount_injection_file: 'true',
      network_gateway_device_route: 'true',
    },
    os_name: 'Debian GNU/Linux',
    os_version: '12',
    project: 'default',
    server: 'lxd',
    server_clustered: false,
    server_event_mode: 'full-mesh',
    server_name: 'host1',
    server_pid: 1234,
    server_version: '5.0.2',
    storage: 'dir',
    storage_version: '1',
    storage_supported_drivers: [
      { Name: 'dir', Version: '1', Remote: false },
      { Name: 'btrfs', Version: '6.2', Remote: false },
    ],
  },
};
const serverEnvelope = sync(server);

const instance = {
  architecture: 'x86_64',
  config: {
    'image.os': 'Debian',
    'volatile.base_image': 'a1b2c3',
    'volatile.last_state.power': 'RUNNING',
  },
  devices: {},
  ephemeral: false,
  profiles: ['default'],
  stateful: false,
  description: '',
  created_at: '2024-03-01T10:00:00.000000000Z',
  expanded_config: { 'image.os': 'Debian' },
  expanded_devices: {
    eth0: { name: 'eth0', network: 'lxdbr0', type: 'nic' },
    root: { path: '/', pool: 'default', type: 'disk' },
  },
  name: 'c1',
  status: 'Running',
  status_code: 103,
  last_used_at: '2024-03-01T10:00:05.000000000Z',
  location: 'none',
  type: 'container',
  project: 'default',
};
const instanceEnvelope = sync(instance);

test('matchRoute: relative or absolute, literal segments before {param}', () => {
  assert.equal(matchRoute('instances'), '/1.0/instances');
  assert.equal(matchRoute('/1.0/instances/c1'), '/1.0/instances/{name}');
  assert.equal(matchRoute('instances/c1/state?project=p'), '/1.0/instances/{name}/state');
  assert.equal(matchRoute('images/aliases/a'), '/1.0/images/aliases/{name}');
  assert.equal(matchRoute('/1.0'), '/1.0');
  assert.equal(matchRoute('/'), '/');
  assert.equal(matchRoute('instances/'), undefined);
  assert.equal(matchRoute('instances/a/b'), undefined);
});

test('a GET /1.0 server response passes', () => {
  assert.deepEqual(checkResponse('GET', '/1.0', undefined, serverEnvelope), []);
  assert.deepEqual(checkResponse('get', '', { project: 'default' }, JSON.stringify(serverEnvelope)), []);
  // The fields of extensions newer than 5.0.2 are optional, and checked when there.
  const newer = structuredClone(server);
  Object.assign(newer, { auth_user_name: 'root', auth_user_method: 'unix' });
  Object.assign(newer.environment, { instance_types: ['container'], server_lts: true });
  assert.deepEqual(checkResponse('GET', '/1.0', undefined, sync(newer)), []);
  Object.assign(newer.environment, { server_lts: 'yes' });
  assert.deepEqual(checkResponse('GET', '/1.0', undefined, sync(newer)), [
    'metadata/environment/server_lts: must be boolean',
  ]);
});

test('what LXD 5.0.2 sends where the spec says otherwise passes (the corrections of scripts/gen-types.ts)', () => {
  // A creation answered with a Location: null metadata, not {}.
  for (const path of ['projects', 'images/aliases', 'profiles', 'network-acls', 'certificates']) {
    assert.deepEqual(checkResponse('POST', path, undefined, sync(null)), [], path);
  }
  assert.deepEqual(checkResponse('POST', 'projects', undefined, sync({})), ['metadata: must be null']);
  // A stopped instance's state: no network at all, and no memory total.
  const stopped = {
    status: 'Stopped',
    status_code: 102,
    disk: {},
    memory: { usage: 0, usage_peak: 0, swap_usage: 0, swap_usage_peak: 0 },
    network: null,
    pid: 0,
    processes: 0,
    cpu: { usage: 0 },
  };
  assert.deepEqual(checkResponse('GET', 'instances/c1/state', undefined, sync(stopped)), []);
});

test('an instance passes, alone and in a recursion=1 list', () => {
  assert.deepEqual(checkResponse('GET', 'instances/c1', undefined, instanceEnvelope), []);
  const list = sync([instance, { ...instance, name: 'c2' }]);
  assert.deepEqual(checkResponse('GET', '/1.0/instances', { recursion: 1 }, list), []);
  assert.deepEqual(checkResponse('GET', '/1.0/instances?recursion=1', undefined, list), []);
  assert.deepEqual(checkResponse('GET', 'instances', {}, sync(['/1.0/instances/c1', '/1.0/instances/c2'])), []);
});

test('an async response is checked as an operation', () => {
  const op = created(operation('66e83638-9dd7-4a26-aef2-5462814869a1'));
  assert.deepEqual(checkResponse('POST', 'instances', undefined, op), []);
  assert.deepEqual(checkResponse('GET', 'instances', undefined, op), [
    'envelope: GET /1.0/instances is documented as sync, got async',
  ]);
});

test('an empty sync response must have {} as metadata', () => {
  assert.deepEqual(checkResponse('PATCH', 'instances/c1', undefined, sync({})), []);
  assert.deepEqual(checkResponse('PATCH', 'instances/c1', undefined, sync({ x: 1 })), [
    'metadata: must NOT have more than 0 properties',
  ]);
});

test('a field the types lack is reported', () => {
  const extra = structuredClone(server);
  Object.assign(extra.environment, { server_fancy: true });
  assert.deepEqual(checkResponse('GET', '/1.0', undefined, sync(extra)), [
    'metadata/environment: unexpected field "server_fancy"',
  ]);
});

test('a field with the wrong type, and a missing one, are reported', () => {
  const wrong = sync({ ...instance, status_code: 'Running', ephemeral: undefined });
  assert.deepEqual(checkResponse('GET', 'instances/c1', undefined, JSON.parse(JSON.stringify(wrong))), [
    'metadata: missing field "ephemeral"',
    'metadata/status_code: must be integer',
  ]);
  assert.deepEqual(
    checkResponse('GET', 'instances', { recursion: 1 }, sync([instance, { ...instance, profiles: 'default' }])),
    ['metadata/1/profiles: must be array'],
  );
});

test('routes without a JSON response pass, unknown routes do not', () => {
  assert.deepEqual(
    checkResponse('GET', 'instances/c1/logs/lxc.log', undefined, {
      type: 'sync',
      metadata: null,
    }),
    [],
  );
  assert.deepEqual(checkResponse('GET', 'nope', undefined, instanceEnvelope), ['no documented route for GET nope']);
  assert.deepEqual(checkResponse('PATCH', 'instances', undefined, instanceEnvelope), [
    'PATCH is not documented for /1.0/instances',
  ]);
  assert.deepEqual(checkResponse('GET', 'instances/c9', undefined, failure(404, 'Instance not found')), [
    'envelope: error response 404 Instance not found',
  ]);
});

// api.pushFile() and api.pullFile() against the real server of the run: the same calls and the same
// answers whether it names its file headers X-LXD-* (LXD) or X-Incus-* (Incus).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { API } from '../../src/index.ts';
import { lxd, removeInstance, skip, uniqueName, unixApi } from './helpers.ts';

describe('instance files, one way for LXD and Incus', { ...skip, timeout: 120_000 }, () => {
  let api: API;
  const name = uniqueName('files');
  before(async () => {
    api = unixApi();
    const created = await api.post('instances', { json: { name, source: { type: 'image', alias: lxd.image } } });
    await created.waitUntilDone();
    await (await api.put(`instances/${name}/state`, { json: { action: 'start' } })).waitUntilDone();
  });
  after(async () => {
    try {
      await removeInstance(api, name);
    } finally {
      await api.close();
    }
  });

  test('a file with mode, uid and gid, a directory and a symlink round-trip', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await api.pushFile(name, '/root/blob.bin', bytes, { mode: 0o640, uid: 1000, gid: 1001 });
    const file = await api.pullFile(name, '/root/blob.bin');
    assert.deepEqual([file.type, file.mode, file.uid, file.gid], ['file', 0o640, 1000, 1001]);
    assert.ok(Buffer.from(file.body ?? []).equals(bytes));

    await api.pushFile(name, '/root/dir', undefined, { type: 'directory', mode: 0o750 });
    await api.pushFile(name, '/root/dir/a', 'a');
    await api.pushFile(name, '/root/dir/a', 'b', { write: 'append' });
    const dir = await api.pullFile(name, '/root/dir');
    assert.deepEqual([dir.type, dir.mode, dir.entries], ['directory', 0o750, ['a']]);
    assert.equal(Buffer.from((await api.pullFile(name, '/root/dir/a')).body ?? []).toString(), 'ab');

    await api.pushFile(name, '/root/link', '/root/dir/a', { type: 'symlink' });
    const link = await api.pullFile(name, '/root/link');
    assert.equal(link.type, 'symlink');
    assert.equal(Buffer.from(link.body ?? []).toString(), '/root/dir/a');
  });

  test('a missing file is APINotFoundException', async () => {
    await assert.rejects(api.pullFile(name, '/root/nope'), { name: 'APINotFoundException', status: 404 });
  });
});

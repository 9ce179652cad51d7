// End to end over the unix socket: image upload with a raw streamed body,
// aliases, delete.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type API, APIException, APINotFoundException, type Image } from '../../src/index.ts';
import { lxd, removeImage, serverName, skip, taggedTarball, uniqueName, unixApi } from './helpers.ts';

describe(`images over the unix socket of ${serverName}`, skip, () => {
  let api: API;
  before(() => {
    api = unixApi();
  });
  after(() => api?.close());

  test('upload a tarball as a raw body, alias it, delete it', { timeout: 60_000 }, async () => {
    const tag = uniqueName('e2e-img');
    const tarball = taggedTarball(lxd.imageTarball, tag);
    const fingerprint = createHash('sha256').update(readFileSync(tarball.path)).digest('hex');
    const alias = uniqueName('e2e-img-alias');
    try {
      const upload = await api.post('images', {
        body: createReadStream(tarball.path),
        headers: { 'X-LXD-public': '0' },
      });
      assert.equal(upload.status, 202);
      assert.equal(upload.request.headers['content-type'], 'application/octet-stream');
      assert.equal(upload.requestSummary(), `POST ${api.endpoint}/1.0/images\n<stream>`);
      const done = await upload.wait();
      assert.equal(done.metadata.status_code, 200);
      assert.deepEqual(done.metadata.metadata, { fingerprint, size: String(statSync(tarball.path).size) });

      const image = await api.get<Image>(`images/${fingerprint}`);
      assert.equal(image.metadata.fingerprint, fingerprint);
      assert.equal(image.metadata.public, false);
      assert.equal(image.metadata.type, 'container');
      assert.equal(image.metadata.properties.description, `lxdapi e2e ${tag}`);

      // The same bytes again: the server refuses, inside the operation.
      const again = await api.post('images', { body: readFileSync(tarball.path) });
      const duplicate = await again.wait().then(
        () => assert.fail('a second upload of the same tarball succeeded'),
        (reason: unknown) => reason,
      );
      assert.ok(duplicate instanceof APIException);
      assert.equal(duplicate.status, 200);
      assert.equal(
        duplicate.message,
        `GET ${api.endpoint}${again.operation}/wait?timeout=30 Image with same fingerprint already exists`,
      );

      const created = await api.post('images/aliases', {
        json: { name: alias, target: fingerprint, description: tag },
      });
      assert.equal(created.status, 201);
      const byAlias = await api.get<{ name: string; target: string; type: string }>(`images/aliases/${alias}`);
      assert.equal(byAlias.metadata.target, fingerprint);
      assert.equal(byAlias.metadata.type, 'container');
      assert.deepEqual((await api.get<Image>(`images/${fingerprint}`)).metadata.aliases, [
        { name: alias, description: tag },
      ]);

      await api.delete(`images/aliases/${alias}`);
      await assert.rejects(api.get(`images/aliases/${alias}`), APINotFoundException);
      const deleted = await api.delete(`images/${fingerprint}`).wait();
      assert.equal(deleted.metadata.status_code, 200);
      await assert.rejects(api.get(`images/${fingerprint}`), APINotFoundException);
    } finally {
      await api.delete(`images/aliases/${alias}`).catch(() => undefined);
      await removeImage(api, fingerprint);
      tarball.cleanup();
    }
  });
});

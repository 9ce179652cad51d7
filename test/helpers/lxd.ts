// Pieces the end-to-end suites against the single daemon (test/e2e) and the cluster (test/cluster) share.
import { randomBytes } from 'node:crypto';
import { type API, APIException, APINotFoundException } from '../../src/index.ts';

/** `<prefix>-<8 hex>`: every object a suite creates is its own, whatever else runs on the daemon. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops (forcibly) and deletes an instance, if it exists. LXD answers
 * `Instance is busy running a "stop" operation` for a moment after a failed
 * start, so a busy instance is retried for a few seconds.
 */
export async function removeInstance(api: API, name: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const state = await api.get<{ status_code: number }>(`instances/${name}/state`);
      if (state.metadata.status_code !== 102) await api.put(`instances/${name}/state`, { json: { action: 'stop', force: true } }).wait();
      await api.delete(`instances/${name}`).wait();
      return;
    } catch (error) {
      if (error instanceof APINotFoundException) return;
      if (!(error instanceof APIException) || attempt >= 40) throw error;
      await sleep(250);
    }
  }
}

// Pieces the suites share: against the single daemon (test/e2e), the cluster (test/cluster), and local servers.
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import { type API, APIException, APINotFoundException, type LXDEvent } from '../../src/index.ts';

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
      if (state.metadata.status_code !== 102)
        await api.put(`instances/${name}/state`, { json: { action: 'stop', force: true } }).wait();
      await api.delete(`instances/${name}`).wait();
      return;
    } catch (error) {
      if (error instanceof APINotFoundException) return;
      if (!(error instanceof APIException) || attempt >= 40) throw error;
      await sleep(250);
    }
  }
}

/** Pulls events until `until` has matched each of them, or rejects after `ms`. */
export async function collect<E extends LXDEvent>(
  stream: AsyncIterable<E>,
  until: Array<(event: E) => boolean>,
  ms = 30_000,
): Promise<E[]> {
  const seen: E[] = [];
  const pending = new Set(until);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `${pending.size} expected event(s) missing after ${ms} ms; saw ${seen.map(describe).join(', ') || 'none'}`,
          ),
        ),
      ms,
    );
  });
  const pull = (async () => {
    for await (const event of stream) {
      seen.push(event);
      for (const match of pending) if (match(event)) pending.delete(match);
      if (pending.size === 0) return seen;
    }
    throw new Error(
      `the event stream ended with ${pending.size} expected event(s) missing; saw ${seen.map(describe).join(', ') || 'none'}`,
    );
  })();
  try {
    return await Promise.race([pull, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(event: LXDEvent): string {
  const what = event.type === 'lifecycle' ? `${event.metadata.action} ${event.metadata.source}` : event.type;
  return `${what}@${event.location ?? '?'}`;
}

/** Everything a stream carries, as text, once it has ended. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await finished(stream);
  return Buffer.concat(chunks).toString('utf8');
}

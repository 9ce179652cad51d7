// Operations as functions of a result, for callers who prefer them to the result's methods, and a
// one-line progress summary.
import type { CancelOptions } from './options.ts';
import type { APIResult, WaitUntilDoneOptions } from './result.ts';
import type { Operation } from './types.ts';

/** The latest known state of the operation a result started or describes. */
export function latestOperation(result: APIResult): Operation | undefined {
  return result.latestOperation;
}

/** `result.waitUntilDone(options)`. */
export function waitUntilDone(result: APIResult, options?: WaitUntilDoneOptions): Promise<APIResult<Operation>> {
  return result.waitUntilDone(options);
}

/** `result.cancel(options)`. */
export function cancelOperation(result: APIResult, options?: CancelOptions): Promise<APIResult> {
  return result.cancel(options);
}

/**
 * A one-line progress summary of an operation's metadata, or undefined:
 * the `progress` object of newer servers (`stage`, `percent`, `speed`), else
 * the first `*_progress` string (`download_progress`,
 * `create_instance_from_image_unpack_progress`, ...).
 */
export function operationProgress(operation: Operation): string | undefined {
  const metadata = operation.metadata as Record<string, unknown> | null;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const progress = metadata.progress;
  if (typeof progress === 'object' && progress !== null) {
    const { stage, percent, speed } = progress as Record<string, unknown>;
    const parts = [stage, percent !== undefined ? `${String(percent)}%` : undefined, speed];
    return parts.filter((part) => part !== undefined && part !== '').join(' ');
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (key.endsWith('progress') && typeof value === 'string') return value;
  }
  return undefined;
}

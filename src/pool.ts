// The members of one cluster (or the one endpoint of a server): which is tried first, and moving
// on to the next while a request has not been sent. HTTP requests and websockets share it.
import type { Logger } from './log.ts';

/** Failures that happen before a request is sent: another cluster member may take it. */
export const NOT_SENT = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The first `code` on an error or its causes. */
export function errorCode(error: unknown): string {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return 'UNKNOWN';
}

export class MemberPool {
  /** Every endpoint, in the order given. */
  readonly members: readonly string[];
  #current = 0;

  constructor(members: readonly string[]) {
    this.members = members;
  }

  /** The member tried first: the one that answered last. */
  get current(): string {
    return this.members[this.#current] as string;
  }

  /**
   * Runs `attempt` on each member in turn, from the current one, until one does not fail with an
   * unsent error (`NOT_SENT`, and `mayRetry()` agrees); that member becomes the current one. The
   * last member's failure, or any other, is thrown as it is.
   */
  each<R>(attempt: (endpoint: string, last: boolean) => Promise<R>, mayRetry: () => boolean, log: Logger): Promise<R> {
    // One member, most APIs: its attempt as it is, without a loop's promise around it.
    if (this.members.length === 1) return attempt(this.members[0] as string, true);
    return this.#inTurn(attempt, mayRetry, log);
  }

  async #inTurn<R>(
    attempt: (endpoint: string, last: boolean) => Promise<R>,
    mayRetry: () => boolean,
    log: Logger,
  ): Promise<R> {
    const count = this.members.length;
    for (let tried = 0; ; tried++) {
      const index = (this.#current + tried) % count;
      const endpoint = this.members[index] as string;
      const last = tried + 1 >= count;
      try {
        const value = await attempt(endpoint, last);
        this.#current = index;
        return value;
      } catch (error) {
        if (last || !NOT_SENT.has(errorCode(error)) || !mayRetry()) throw error;
        if (log.enabled) log('%s: %s, trying the next member', endpoint, (error as Error).message);
      }
    }
  }
}

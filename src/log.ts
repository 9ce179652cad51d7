import createDebug from 'debug';

/**
 * The part of a `debug` logger the API uses. Declared here so that the
 * published types do not depend on `@types/debug`.
 */
export interface Logger {
  (formatter: string, ...args: unknown[]): void;
  /** True when `DEBUG` names `lxd` or the API's `debug` option is set. */
  enabled: boolean;
  /** Where the lines go: stderr unless replaced. */
  log: (...args: unknown[]) => unknown;
}

/** The `debug` logger of one API: namespace `lxd`, forced on by the `debug` option. */
export function createLogger(force: boolean): Logger {
  const log = createDebug('lxd');
  if (force) log.enabled = true;
  return log as Logger;
}

// Which server an API talks to: the server document (`GET /1.0`) read once, its kind, version and
// API extensions, and the one check the features make before they rely on an extension.
import { MissingExtensionError } from './errors.ts';
import type { Server, ServerInfo } from './types.ts';

/** The view of a server document. */
export function serverInfo(document: Server): ServerInfo {
  const environment = document.environment as Partial<Server['environment']> | undefined;
  const kind = environment?.server === 'lxd' || environment?.server === 'incus' ? environment.server : undefined;
  const extensions = Array.isArray(document.api_extensions) ? document.api_extensions : [];
  const known = new Set(extensions);
  return {
    kind,
    version: typeof environment?.server_version === 'string' ? environment.server_version : undefined,
    apiVersion: document.api_version,
    trusted: document.auth === 'trusted',
    extensions,
    document,
    hasExtension: (name) => known.has(name),
  };
}

/** Throws `MissingExtensionError` when the server lacks `extension`, which `feature` needs. */
export function requireExtension(server: ServerInfo, extension: string, feature: string, endpoint: string): void {
  if (server.hasExtension(extension)) return;
  throw new MissingExtensionError(extension, feature, server, endpoint);
}

// Config folders for the API.remote() and API.join() tests, with the command lines' variables isolated.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withEnv } from './env.ts';

const CLEARED = ['LXD_CONF', 'INCUS_CONF', 'LXC_REMOTE', 'INCUS_REMOTE', 'INCUS_PROJECT', 'LXD_SOCKET', 'INCUS_SOCKET'];

/**
 * Runs `run` with a temp folder (removed afterwards), the command lines' variables cleared and the system-wide
 * folders pointed at an empty `<temp>/empty-global`, so that the machine's own configuration never leaks in.
 */
export async function inTemp<R>(
  vars: Record<string, string | undefined>,
  run: (dir: string) => Promise<R> | R,
): Promise<R> {
  const dir = mkdtempSync(join(tmpdir(), 'lxdapi-remote-'));
  const empty = join(dir, 'empty-global');
  mkdirSync(empty);
  const isolated = Object.fromEntries(CLEARED.map((name) => [name, undefined]));
  try {
    return await withEnv({ ...isolated, LXD_GLOBAL_CONF: empty, INCUS_GLOBAL_CONF: empty, ...vars }, () => run(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes a config folder: config.yml and any other files, by relative path. */
export function folder(dir: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** YAML lines. */
export function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}

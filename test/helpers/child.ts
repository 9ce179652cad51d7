import { spawn } from 'node:child_process';

/**
 * Runs `node --import tsx <args>` without blocking this process (which may
 * serve the child's requests) and resolves with its exit code and its
 * stdout and stderr as one text. A child still running after `timeout` ms is
 * killed: its code is then `null`.
 */
export function runTsx(args: string[], timeout: number): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

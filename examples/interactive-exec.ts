// Runs `sh -c 'read x; echo got $x'` in an instance on a terminal, over the
// exec's websockets: writes "hello\n" to its stdin, prints its output, and
// exits with the command's exit code.
//
//   node --import tsx examples/interactive-exec.ts <instance>
//
// Connects to LXD_TEST_URL with LXD_TEST_SERVER_CERT/CLIENT_CERT/CLIENT_KEY
// when those are set, else to LXD_TEST_SOCKET, else to the local LXD.
import { readFileSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { API } from '../src/index.ts';

const instance = process.argv[2];
if (!instance) {
  console.error('usage: node --import tsx examples/interactive-exec.ts <instance>');
  process.exit(2);
}
const env = process.env;
const api =
  env.LXD_TEST_URL && env.LXD_TEST_SERVER_CERT && env.LXD_TEST_CLIENT_CERT && env.LXD_TEST_CLIENT_KEY
    ? API.factory(env.LXD_TEST_URL, {
        serverCert: readFileSync(env.LXD_TEST_SERVER_CERT),
        cert: readFileSync(env.LXD_TEST_CLIENT_CERT),
        key: readFileSync(env.LXD_TEST_CLIENT_KEY),
      })
    : API.factory(env.LXD_TEST_SOCKET);
try {
  const session = await api.exec(instance, ['sh', '-c', 'read x; echo got $x'], { interactive: true, width: 80, height: 24 });
  session.stdout.pipe(process.stdout, { end: false });
  session.stdin.write('hello\n');
  const code = await session.exitCode;
  await finished(session.stdout);
  process.exitCode = code;
} finally {
  await api.close();
}

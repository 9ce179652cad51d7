// Remotes and trust tokens, as README's "Remotes and trust" shows them.
//
//   node --import tsx examples/remote-and-trust.ts list [remote]
//     The instances of a remote of the lxc (or incus) configuration: $LXD_CONF, $INCUS_CONF, ~/.config/lxc, ...
//     Without a name, the default remote ($LXC_REMOTE, else config.yml's default-remote, else local).
//
//   node --import tsx examples/remote-and-trust.ts join <token> <client.crt> <client.key> <server.crt to write>
//     Gets client.crt trusted with a token of `lxc config trust add --name <name>` (or `incus config trust
//     add <name>`), writes the server's certificate, then connects again with it pinned.
//
// Exits with 1 and one line on stderr when the configuration or the token cannot work, or the server refuses.
import { readFileSync, writeFileSync } from 'node:fs';
import { API, APIConnectionError, APIException, decodeTrustToken, RemoteConfigError } from '../src/index.ts';

const [command, ...args] = process.argv.slice(2);

async function list(name: string | undefined): Promise<void> {
  const api = API.remote(name); // reads and checks everything first: RemoteConfigError, before any connection
  try {
    const instances = await api.get('instances', { query: { recursion: 1 } });
    console.log(
      `${api.endpoint}${api.project ? ` project ${api.project}` : ''}: ${instances.metadata.length} instance(s)`,
    );
    for (const instance of instances.metadata) console.log(`  ${instance.name} ${instance.status}`);
  } finally {
    await api.close();
  }
}

async function join(token: string, certFile: string, keyFile: string, saveTo: string): Promise<void> {
  const { client_name, addresses, expires_at } = decodeTrustToken(token); // a TypeError when it is not a token
  console.log(
    `joining as ${client_name} through ${addresses.join(', ')}${expires_at ? `, token expires ${expires_at}` : ''}`,
  );
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  const joined = await API.join(token, { cert, key });
  writeFileSync(saveTo, joined.serverCertificate);
  const endpoint = joined.endpoint;
  await joined.close();

  // From now on, the saved certificate is the pin, as `lxc remote add` keeps it in servercerts/.
  const api = API.factory(endpoint, { cert, key, serverCert: readFileSync(saveTo) });
  try {
    const { metadata } = await api.get('');
    console.log(`${endpoint}: ${metadata.auth}, ${metadata.environment.server} ${metadata.environment.server_version}`);
  } finally {
    await api.close();
  }
}

try {
  if (command === 'list' && args.length <= 1) await list(args[0]);
  else if (command === 'join' && args.length === 4) await join(...(args as [string, string, string, string]));
  else {
    console.error('usage: remote-and-trust.ts list [remote] | join <token> <client.crt> <client.key> <server.crt>');
    process.exitCode = 2;
  }
} catch (error) {
  const known = [RemoteConfigError, APIConnectionError, APIException, TypeError].some((type) => error instanceof type);
  if (!known) throw error;
  const { name, message } = error as Error;
  console.error(`${name}${'code' in (error as object) ? ` ${(error as { code: string }).code}` : ''}: ${message}`);
  process.exitCode = 1;
}

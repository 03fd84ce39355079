// Prints a server's lines for prosody.cfg.lua: its webhook and stanza API keys, derived from the
// master key and the server's id (docs/hosts.md), and the events URL when given. Every VirtualHost
// of the server shares them, so they go in the global section, beside the module in the global
// modules_enabled.
//   npm run host-keys -- [--secret <arn|name> [--region <r>] | --file <path>] [--events-url <url>]
//                        [--table <name> [--endpoint <url>] | --hosts-file <path>] <server id> [...]
// Without --secret or --file the master key is read from PING_MUC_MASTER_KEY (its JSON text).
// With --table or --hosts-file the registry is read: each argument is a server id (or a host,
// standing for its server) and the lines name the hosts they serve. Without a registry (or with
// an empty one: HostRegistry none), each argument is a host, its own server.
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RegistryTable } from '../lib/adapters/registry/dynamodb';
import { fileRegistrySource } from '../lib/adapters/registry/file';
import { fileSecretSource, secretsManagerSource } from '../lib/adapters/secrets';
import { hostName, type ServerRecord } from '../lib/domain/hosts';
import { keyText, type MasterKey, parseMasterKey, serverKeys } from '../lib/domain/keys';
import { SDK_CLIENT } from '../lib/support/config';

/** What the keys are derived for: a registry server and its hosts, or a host without a registry. */
export interface KeyTarget {
  /** The id the keys derive from: the server's id, or the host's name without a registry. */
  server: string;
  /** The server's hosts, when the registry was read. */
  hosts?: string[];
}

/**
 * The target of one argument. `servers`: the registry as read (undefined or empty: none, and the
 * argument is a host). A server id is looked up first, then a host, which stands for its server.
 */
export function keyTarget(arg: string, servers?: readonly ServerRecord[]): KeyTarget {
  if (!servers || servers.length === 0) return { server: hostName(arg) };
  const byId = servers.find((s) => s.id === arg);
  if (byId) return { server: byId.id, hosts: byId.hosts };
  let name: string | undefined;
  try {
    name = hostName(arg);
  } catch {
    name = undefined;
  }
  const byHost = name === undefined ? undefined : servers.find((s) => s.hosts.includes(name));
  if (byHost) return { server: byHost.id, hosts: byHost.hosts };
  throw new Error(`${arg} is neither a server id nor a host of the registry`);
}

/** The lines of one server (or host without a registry), for the global section. */
export function prosodyLines(master: MasterKey, target: KeyTarget, eventsUrl?: string): string[] {
  const [webhook, webhookPrevious] = serverKeys(master, 'webhook', target.server).map(keyText);
  const [api, apiPrevious] = serverKeys(master, 'stanza-api', target.server).map(keyText);
  const lines = target.hosts
    ? [`-- server ${target.server}: the keys of its VirtualHosts ${target.hosts.join(', ')}`]
    : [`-- VirtualHost ${target.server} (no host registry: the host is its own server)`];
  lines.push('-- with "ping_muc_cloud" in the global modules_enabled');
  if (eventsUrl) lines.push(`ping_muc_cloud_events_url = "${eventsUrl}"`);
  lines.push(`ping_muc_cloud_webhook_secret = "${webhook}"`);
  if (webhookPrevious) lines.push(`ping_muc_cloud_webhook_secret_previous = "${webhookPrevious}"`);
  lines.push(`ping_muc_cloud_api_secret = "${api}"`);
  if (apiPrevious) lines.push(`ping_muc_cloud_api_secret_previous = "${apiPrevious}"`);
  return lines;
}

const USAGE =
  'usage: npm run host-keys -- [--secret <arn> [--region <r>] | --file <path>] [--events-url <url>] [--table <name> [--endpoint <url>] | --hosts-file <path>] <server id> [...]';

/** Runs the command; returns what it prints. `table`: the registry to read for --table (tests). */
export async function runHostKeys(argv: string[], table?: RegistryTable): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      secret: { type: 'string' },
      region: { type: 'string' },
      file: { type: 'string' },
      'events-url': { type: 'string' },
      table: { type: 'string' },
      endpoint: { type: 'string' },
      'hosts-file': { type: 'string' },
    },
  });
  if (positionals.length === 0) throw new Error(USAGE);
  if (values.table && values['hosts-file']) throw new Error('--table and --hosts-file: choose one registry');
  if (values.region) process.env.AWS_REGION = values.region;
  let text: string;
  let name: string;
  if (values.secret) {
    text = await secretsManagerSource(values.secret)();
    name = values.secret;
  } else if (values.file) {
    text = await fileSecretSource(values.file)();
    name = values.file;
  } else if (process.env.PING_MUC_MASTER_KEY) {
    text = process.env.PING_MUC_MASTER_KEY;
    name = 'PING_MUC_MASTER_KEY';
  } else {
    throw new Error(
      'no master key: pass --secret <arn> (the stack output MasterKeyArn), --file <path>, or set PING_MUC_MASTER_KEY',
    );
  }
  const master = parseMasterKey(text, name);
  let servers: ServerRecord[] | undefined;
  if (values.table) {
    const client = new DynamoDBClient({ ...SDK_CLIENT, ...(values.endpoint && { endpoint: values.endpoint }) });
    const read = await (table ?? new RegistryTable({ client, table: values.table })).read();
    for (const { id, error } of read.refused)
      process.stderr.write(`host-keys: registry item refused: ${id}: ${error}\n`);
    servers = read.servers;
  } else if (values['hosts-file']) {
    servers = (await fileRegistrySource(values['hosts-file'])()).servers;
  }
  const blocks = positionals.map((arg) =>
    prosodyLines(master, keyTarget(arg, servers), values['events-url']).join('\n'),
  );
  return `${blocks.join('\n\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runHostKeys(process.argv.slice(2)).then(
    (text) => process.stdout.write(text),
    (err: Error) => {
      process.stderr.write(`host-keys: ${err.message}\n`);
      process.exit(1);
    },
  );
}

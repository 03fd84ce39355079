// The host registry in the stack's table (docs/hosts.md): one item per server, every version kept.
//   npm run registry -- [--table <name>] [--region <r>] [--endpoint <url>] <command>
//     put <server.json> [--if-version <n>]   write a server (its id, hosts, apiUrl) as its next version
//     get <id> | list | history <id>
//     rollback <id> <version> [--if-version <n>]   write an old version again, as the next one
//     remove <id> [--if-version <n>]
// The table defaults to PING_MUC_TABLE or "ping-muc" (the stack output TableName).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RegistryTable, type StoredServer } from '../lib/adapters/registry/dynamodb';
import { DEFAULTS, ENV, SDK_CLIENT } from '../lib/support/config';

const USAGE =
  'usage: npm run registry -- [--table <name>] [--region <r>] [--endpoint <url>] put <server.json> | get <id> | list | history <id> | rollback <id> <version> | remove <id> [--if-version <n>]';

const show = (s: StoredServer) => JSON.stringify({ ...s, writtenAt: new Date(s.writtenAt).toISOString() });

/** Runs one command; returns the lines it prints. */
export async function runRegistry(argv: string[], table?: RegistryTable): Promise<string[]> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      table: { type: 'string' },
      region: { type: 'string' },
      endpoint: { type: 'string' },
      'if-version': { type: 'string' },
    },
  });
  const registry =
    table ??
    new RegistryTable({
      client: new DynamoDBClient({
        ...SDK_CLIENT,
        ...(values.region && { region: values.region }),
        ...(values.endpoint && { endpoint: values.endpoint }),
      }),
      table: values.table ?? process.env[ENV.table] ?? DEFAULTS.table,
    });
  const ifVersion = values['if-version'] === undefined ? undefined : Number(values['if-version']);
  const [command, a, b] = positionals;
  switch (command) {
    case 'put': {
      if (!a) break;
      const raw: unknown = JSON.parse(await readFile(a, 'utf8'));
      return [show(await registry.put(raw, ifVersion))];
    }
    case 'get': {
      if (!a) break;
      const server = await registry.get(a);
      if (!server) throw new Error(`server ${a} is not in the registry`);
      return [show(server)];
    }
    case 'list':
      return (await registry.list()).map(show);
    case 'history':
      if (!a) break;
      return (await registry.history(a)).map(show);
    case 'rollback':
      if (!a || !b) break;
      return [show(await registry.rollback(a, Number(b), ifVersion))];
    case 'remove':
      if (!a) break;
      return [show(await registry.remove(a, ifVersion))];
  }
  throw new Error(USAGE);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runRegistry(process.argv.slice(2)).then(
    (lines) => process.stdout.write(lines.map((l) => `${l}\n`).join('')),
    (err: Error) => {
      process.stderr.write(`registry: ${err.message}\n`);
      process.exit(1);
    },
  );
}

// Prints a VirtualHost's lines for prosody.cfg.lua: its webhook and stanza API keys, derived from
// the master key (docs/hosts.md), and the events URL when given.
//   npm run host-keys -- [--secret <arn|name> [--region <r>] | --file <path>] [--events-url <url>] <host> [...]
// Without --secret or --file the master key is read from PING_MUC_MASTER_KEY (its JSON text).
import { parseArgs } from 'node:util';
import { fileSecretSource, secretsManagerSource } from '../lib/adapters/secrets';
import { hostName } from '../lib/domain/hosts';
import { hostKeys, keyText, type MasterKey, parseMasterKey } from '../lib/domain/keys';

/** The lines of one host, in a VirtualHost section. */
export function prosodyLines(master: MasterKey, host: string, eventsUrl?: string): string[] {
  const name = hostName(host);
  const [webhook, webhookPrevious] = hostKeys(master, 'webhook', name).map(keyText);
  const [api, apiPrevious] = hostKeys(master, 'stanza-api', name).map(keyText);
  const lines = [`VirtualHost "${host}"`, '    modules_enabled = { "ping_muc_cloud" }'];
  if (eventsUrl) lines.push(`    ping_muc_cloud_events_url = "${eventsUrl}"`);
  lines.push(`    ping_muc_cloud_webhook_secret = "${webhook}"`);
  if (webhookPrevious) lines.push(`    ping_muc_cloud_webhook_secret_previous = "${webhookPrevious}"`);
  lines.push(`    ping_muc_cloud_api_secret = "${api}"`);
  if (apiPrevious) lines.push(`    ping_muc_cloud_api_secret_previous = "${apiPrevious}"`);
  return lines;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      secret: { type: 'string' },
      region: { type: 'string' },
      file: { type: 'string' },
      'events-url': { type: 'string' },
    },
  });
  if (positionals.length === 0) {
    throw new Error(
      'usage: npm run host-keys -- [--secret <arn> [--region <r>] | --file <path>] [--events-url <url>] <host> [...]',
    );
  }
  let text: string;
  let name: string;
  if (values.secret) {
    if (values.region) process.env.AWS_REGION = values.region;
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
  const blocks = positionals.map((host) => prosodyLines(master, host, values['events-url']).join('\n'));
  process.stdout.write(`${blocks.join('\n\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`host-keys: ${err.message}\n`);
    process.exit(1);
  });
}

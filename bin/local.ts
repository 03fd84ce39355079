// `npm start`: the local service on its embedded defaults.
import { resolve } from 'node:path';
import { ENV, loadLocalSettings } from '../lib/support/config';
import { MEMORY, startLocalService } from '../lib/wiring/local';

// This is Node 20 on purpose (Lambda runs 22): the SDK's notice about its future floor is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const fail = (err: Error): never => {
  console.error(`ping-muc: cannot start: ${err.message}`);
  process.exit(1);
};
const settings = await Promise.resolve()
  .then(() => loadLocalSettings())
  .catch(fail);
const dataDir = settings.dataDir === MEMORY ? MEMORY : resolve(settings.dataDir);

const service = await startLocalService({ dataDir, port: settings.port, host: settings.listen }).catch(fail);

const { config } = service;
const hostsFile = config.hostsFile;
const listed = hostsFile ?? (config.hostsInTable ? `the table ${config.table} (npm run registry)` : undefined);
/** Where the master key is, for host-keys' options. */
const masterArg = config.masterKey
  ? 'file' in config.masterKey
    ? `--file ${config.masterKey.file}`
    : 'secretId' in config.masterKey
      ? `--secret ${config.masterKey.secretId}`
      : `(with ${ENV.masterKey} set)`
  : undefined;
console.log(`ping-muc listening on ${service.url}
  events URL       ${service.eventsUrl}   (POST, Standard Webhooks signed)
  stanza API       ${listed ? `per server, from ${listed}` : config.apiUrl || '(not set: ' + ENV.apiUrl + ')'}
  data             ${dataDir === MEMORY ? 'in memory (lost on exit)' : dataDir}
  delay            ${config.delayMs / 1000} s, re-checks ${config.rechecks} (base ${config.recheckBaseMs / 1000} s), concurrency ${config.concurrency}
  secrets          ${masterArg ? 'per host, derived from the master key (docs/hosts.md)' : config.fixedKeys.webhook ? 'from the environment' : dataDir === MEMORY ? 'generated for this run' : 'from ' + dataDir + '/secrets.json'}
For the Prosody module (prosody/README.md), in each VirtualHost:
  ping_muc_cloud_events_url = "${service.eventsUrl}"
  ping_muc_cloud_webhook_secret = ${secretHint('webhook')}
  ping_muc_cloud_api_secret = ${secretHint('api')}`);

// Secrets are not printed where they persist: the operator reads them from the file.
function secretHint(which: 'webhook' | 'api'): string {
  if (masterArg) return `(that host's, from: npm run host-keys -- ${masterArg} <host>)`;
  if (dataDir !== MEMORY)
    return `(the "${which}" value in ${dataDir}/secrets.json, or your ${which === 'webhook' ? ENV.webhookSecret : ENV.apiSecret})`;
  return `"${which === 'webhook' ? service.webhookSecret : service.apiSecret}"`;
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`ping-muc: ${signal}, shutting down`);
    service.close().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`ping-muc: shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  });
}

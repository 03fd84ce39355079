// The ingest dependencies the benchmark and the ingest tests share: one store, a counting
// scheduler, no delay, quiet logs, and one key that signs every host's events.
import { secretKey } from '../lib/domain/signature';
import type { IngestDeps } from '../lib/app/ingest';
import type { JoinStore, RoundStore } from '../lib/ports';
import { loadConfig } from '../lib/support/config';
import { createLogger, Metrics } from '../lib/support/observability';
import { systemClock } from '../lib/support/clock';
import { FixedKeys } from '../lib/adapters/registry/keys';
import { Registry } from '../lib/adapters/registry/registry';
import { CountingScheduler } from './counting-scheduler';

export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789abcdef';
/** The one key that signs every host's events in the benchmark. */
export const WEBHOOK_KEY = secretKey(WEBHOOK_SECRET);

export function ingestDeps(store: JoinStore & RoundStore): IngestDeps {
  return {
    joins: store,
    rounds: store,
    clock: systemClock,
    scheduler: new CountingScheduler(),
    config: loadConfig({ PING_MUC_DELAY_SECONDS: '0' }),
    log: createLogger('bench', 'warn', () => undefined),
    metrics: new Metrics('PingMucBench', () => undefined),
    hosts: new Registry(new FixedKeys({ webhook: [WEBHOOK_KEY], 'stanza-api': [WEBHOOK_KEY] }), { apiUrl: '' }),
  };
}

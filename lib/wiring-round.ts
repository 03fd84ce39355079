// Dependencies of the round function; kept apart so the events bundle carries no XML code.
import { ENV, type Config } from './config';
import { HttpStanzaApi } from './adapters/stanza-api-http';
import { loadKey } from './secrets';
import { awsScheduler, awsShared } from './wiring';
import type { RoundDeps } from './round';

export function apiFor(config: Config, key: Buffer): HttpStanzaApi {
  return new HttpStanzaApi({ url: config.apiUrl, key, timeoutMs: config.apiTimeoutMs });
}

let api: HttpStanzaApi | undefined;

export async function awsRoundDeps(selfArn: string): Promise<RoundDeps> {
  const s = awsShared('round');
  api ??= apiFor(s.config, await loadKey(ENV.apiSecret, ENV.apiSecretArn));
  return { ...s, api, scheduler: awsScheduler(s.config, selfArn), selfRetry: true };
}

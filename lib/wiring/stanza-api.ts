// The stanza API clients as configured: shared by the AWS and the local composition roots.
import { HttpStanzaApi } from '../adapters/stanza-api/client';
import { RoutingStanzaApi } from '../adapters/stanza-api/routing';
import type { StanzaApi } from '../ports';
import type { Keys } from '../domain/signature';
import type { Config } from '../support/config';
import type { HostRegistry } from '../support/registry';

/** One API URL with its key(s): calls made together go out in batches of at most PING_MUC_API_BATCH. */
export function stanzaApiFor(config: Config, key: Keys, url = config.apiUrl, host?: string): HttpStanzaApi {
  return new HttpStanzaApi({
    url,
    key,
    host,
    timeoutMs: config.apiTimeoutMs,
    ...(config.apiBatch > 0 && { gatherMaxItems: config.apiBatch }),
  });
}

/** Each call to the API of the user's host, signed with that host's keys (docs/hosts.md). */
export function routedStanzaApi(config: Config, registry: HostRegistry): StanzaApi {
  return new RoutingStanzaApi(registry, (api, host) => stanzaApiFor(config, api.keys, api.url, host));
}

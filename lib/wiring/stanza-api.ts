// The HTTP stanza API client as configured: shared by the AWS and the local composition roots.
import { HttpStanzaApi } from '../adapters/stanza-api-http';
import type { Config } from '../support/config';

export function stanzaApiFor(config: Config, key: Buffer): HttpStanzaApi {
  return new HttpStanzaApi({ url: config.apiUrl, key, timeoutMs: config.apiTimeoutMs });
}

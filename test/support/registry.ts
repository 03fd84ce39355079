// Registries that tests build for themselves (lib/adapters/registry/): one key pair serving every
// host, as the local service runs without a master key.
import { FixedKeys } from '../../lib/adapters/registry/keys';
import { Registry } from '../../lib/adapters/registry/registry';

/** `key` signs every host's events and API calls; `apiUrl` serves every host. */
export function oneKeyRegistry(key: Buffer, apiUrl = ''): Registry {
  return new Registry(new FixedKeys({ webhook: [key], 'stanza-api': [key] }), { apiUrl });
}

// The host registry of the local service: a JSON file (PING_MUC_HOSTS_FILE, docs/hosts.md),
// re-read once its cache expires, so editing it needs no restart. Read whole: any bad server
// refuses the file, and the last good one stays in use.
import { readFile } from 'node:fs/promises';
import { parseRegistryFile } from '../../domain/hosts';
import type { RegistrySource } from '../../ports';

export function fileRegistrySource(path: string): RegistrySource {
  return async () => ({ servers: parseRegistryFile(await readFile(path, 'utf8')), refused: [] });
}

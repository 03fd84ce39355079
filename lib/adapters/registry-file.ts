// The host registry of the local service: a JSON file (PING_MUC_HOSTS_FILE), re-read once its
// cache expires, so editing it needs no restart.
import { readFile } from 'node:fs/promises';
import type { RegistrySource } from '../support/registry';

export function fileRegistrySource(path: string): RegistrySource {
  return () => readFile(path, 'utf8');
}

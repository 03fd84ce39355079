// The host registry (docs/hosts.md): which stanza API serves each VirtualHost. One record per
// XMPP server: its id, its VirtualHosts and its stanza API URL. No secrets: each server's keys
// (shared by its hosts) are derived from the master key and its id (./keys.ts). Pure: records
// in, checked records and a host table out.
import { domainToUnicode } from 'node:url';
import { JidError, normalizeDomain } from './jid';

/** One server of the registry, as stored and as the registry CLI writes it. */
export interface ServerRecord {
  /** The server's name in the registry: letters, digits, `.`, `_`, `-` (1–100). */
  id: string;
  /** Its VirtualHosts, normalized (hostName). */
  hosts: string[];
  /** The stanza API serving every one of its hosts. */
  apiUrl: string;
}

/** What the registry serves for one VirtualHost. */
export interface HostEntry {
  host: string;
  /** The server's id: its keys derive from it (./keys.ts), and logs name it. */
  server: string;
  apiUrl: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export const SERVER_ID = /^[A-Za-z0-9._-]{1,100}$/;
/** A server with more hosts than this is refused: one DynamoDB item (400 KB) holds it with room. */
export const MAX_HOSTS_PER_SERVER = 2_000;
const FIELDS = new Set(['id', 'hosts', 'apiUrl']);

/**
 * A VirtualHost as the events and the store name it: an IDN host may be written by its A-labels
 * (`xn--…`, as the module's `ping-muc-host` header carries it), mapped here to Unicode, then
 * normalized like a JID's domain. Throws JidError for what is no domain.
 */
export function hostName(raw: string): string {
  const labels = raw.split('.').map((label) => {
    if (!/^xn--/i.test(label)) return label;
    const unicode = domainToUnicode(label);
    if (!unicode) throw new JidError(`invalid domain ${JSON.stringify(raw.slice(0, 100))}: bad A-label`);
    return unicode;
  });
  return normalizeDomain(labels.join('.'));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks one server record (from a file, an item, or the CLI's input); throws RegistryError naming
 * the problem. Unknown fields are refused: a secret never rides along in the registry.
 */
export function parseServer(raw: unknown, where = 'server'): ServerRecord {
  if (!isObject(raw)) throw new RegistryError(`${where} must be an object {"id", "hosts", "apiUrl"}`);
  const { id, hosts, apiUrl } = raw;
  if (typeof id !== 'string' || !SERVER_ID.test(id)) {
    throw new RegistryError(`${where}.id must be 1-100 letters, digits, ".", "_" or "-"`);
  }
  const at = `server ${id}`;
  const extra = Object.keys(raw).filter((k) => !FIELDS.has(k));
  if (extra.length > 0) {
    throw new RegistryError(`${at}: unknown fields ${extra.join(', ')} (the registry holds no keys: docs/hosts.md)`);
  }
  if (typeof apiUrl !== 'string' || !/^https?:\/\/[^\s]+$/.test(apiUrl)) {
    throw new RegistryError(`${at}: apiUrl must be an http(s) URL`);
  }
  if (!Array.isArray(hosts) || hosts.length === 0) throw new RegistryError(`${at}: hosts must be a non-empty array`);
  if (hosts.length > MAX_HOSTS_PER_SERVER) {
    throw new RegistryError(`${at}: ${hosts.length} hosts, at most ${MAX_HOSTS_PER_SERVER} per server`);
  }
  const names = new Set<string>();
  for (const h of hosts) {
    if (typeof h !== 'string') throw new RegistryError(`${at}: hosts must be strings`);
    let name: string;
    try {
      name = hostName(h);
    } catch (err) {
      if (err instanceof JidError)
        throw new RegistryError(`${at}: host ${JSON.stringify(h.slice(0, 100))}: ${err.message}`, { cause: err });
      throw err;
    }
    if (names.has(name)) throw new RegistryError(`${at}: host ${name} is listed twice`);
    names.add(name);
  }
  return { id, hosts: [...names], apiUrl };
}

/**
 * The host table of checked servers, in the order given. A host another server listed first is
 * left with that server and reported through `conflict`: the rest still serve.
 */
export function hostTable(
  servers: readonly ServerRecord[],
  conflict: (server: string, error: string) => void = () => undefined,
): Map<string, HostEntry> {
  const table = new Map<string, HostEntry>();
  for (const server of servers) {
    for (const host of server.hosts) {
      const other = table.get(host);
      if (other) {
        conflict(server.id, `host ${host} is listed by server ${other.server} too: kept there`);
        continue;
      }
      table.set(host, { host, server: server.id, apiUrl: server.apiUrl });
    }
  }
  return table;
}

/** The local registry file: `{"servers": [<server record>, …]}`. Throws RegistryError on the first problem. */
export function parseRegistryFile(text: string): ServerRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RegistryError(`host registry is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(doc) || !Array.isArray(doc.servers) || doc.servers.length === 0) {
    throw new RegistryError('host registry must be an object {"servers": [ … ]} with at least one server');
  }
  const servers = doc.servers.map((raw, i) => parseServer(raw, `servers[${i}]`));
  const ids = new Set<string>();
  for (const { id } of servers) {
    if (ids.has(id)) throw new RegistryError(`server ${id} is listed twice`);
    ids.add(id);
  }
  hostTable(servers, (_server, error) => {
    throw new RegistryError(error);
  });
  return servers;
}

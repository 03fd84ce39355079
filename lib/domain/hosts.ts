// The host registry (docs/hosts.md): which stanza API and which keys serve each VirtualHost.
// Pure: JSON text in, entries out. Secrets are references here (a Secrets Manager ARN, or a
// plain value where allowed); lib/support/registry.ts resolves them.
import { domainToUnicode } from 'node:url';
import { JidError, normalizeDomain } from './jid';
import { SignatureError, secretKey } from './signature';

/** A VirtualHost as the registry serves it; secret fields hold references, not keys. */
export interface HostEntry {
  host: string;
  /** The server's name in the registry, for logs. */
  server: string;
  apiUrl: string;
  webhookSecret: string;
  previousWebhookSecret?: string;
  apiSecret: string;
  previousApiSecret?: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

const SECRET_FIELDS = ['webhookSecret', 'previousWebhookSecret', 'apiSecret', 'previousApiSecret'] as const;
type SecretField = (typeof SECRET_FIELDS)[number];
type Raw = Record<string, unknown>;

/** `arn:…:secretsmanager:…`, optionally `#<version stage>` (e.g. `#AWSPREVIOUS`). */
export const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^#\s]+(#[A-Za-z0-9_-]{1,256})?$/;

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

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A secret reference as the registry holds it. `arnsOnly` (AWS): only Secrets Manager ARNs, never
 * a secret value in the parameter. Otherwise a plain value (`whsec_…` or ≥ 24 bytes) or an ARN.
 */
function secretRef(value: unknown, where: string, arnsOnly: boolean): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new RegistryError(`${where} must be a string`);
  if (value.startsWith('arn:')) {
    if (!SECRET_ARN.test(value)) throw new RegistryError(`${where} is not a Secrets Manager secret ARN`);
    return value;
  }
  if (arnsOnly) throw new RegistryError(`${where} must be a Secrets Manager ARN: the registry never holds a secret`);
  try {
    secretKey(value, where);
  } catch (err) {
    if (err instanceof SignatureError) throw new RegistryError(err.message);
    throw err;
  }
  return value;
}

function apiUrl(value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^https?:\/\/[^\s]+$/.test(value)) {
    throw new RegistryError(`${where} must be an http(s) URL`);
  }
  return value;
}

function hostEntry(server: string, shared: Raw, name: string, raw: unknown, arnsOnly: boolean): HostEntry {
  const where = `servers[${server}].hosts["${name.slice(0, 100)}"]`;
  if (!isObject(raw)) throw new RegistryError(`${where} must be an object`);
  let host: string;
  try {
    host = hostName(name);
  } catch (err) {
    if (err instanceof JidError) throw new RegistryError(`${where}: ${err.message}`);
    throw err;
  }
  const refs: Partial<Record<SecretField, string>> = {};
  for (const field of SECRET_FIELDS) {
    // A host's own key overrides its server's (keys per server or per host).
    const own = secretRef(raw[field], `${where}.${field}`, arnsOnly);
    refs[field] = own ?? secretRef(shared[field], `servers[${server}].${field}`, arnsOnly);
  }
  const { webhookSecret, apiSecret, previousWebhookSecret, previousApiSecret } = refs;
  if (!webhookSecret) throw new RegistryError(`${where}: no webhookSecret, on the host or its server`);
  if (!apiSecret) throw new RegistryError(`${where}: no apiSecret, on the host or its server`);
  const entry: HostEntry = { host, server, apiUrl: apiUrl(raw.apiUrl, `${where}.apiUrl`), webhookSecret, apiSecret };
  if (previousWebhookSecret) entry.previousWebhookSecret = previousWebhookSecret;
  if (previousApiSecret) entry.previousApiSecret = previousApiSecret;
  return entry;
}

/** Parses the registry document; throws RegistryError naming the first problem. */
export function parseHosts(text: string, options: { arnsOnly: boolean }): Map<string, HostEntry> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RegistryError(`host registry is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || doc.v !== 1) throw new RegistryError('host registry must be an object with "v": 1');
  const { servers } = doc;
  if (!Array.isArray(servers) || servers.length === 0) throw new RegistryError('"servers" must be a non-empty array');
  const hosts = new Map<string, HostEntry>();
  servers.forEach((raw, i) => {
    if (!isObject(raw)) throw new RegistryError(`servers[${i}] must be an object`);
    const server = typeof raw.name === 'string' && raw.name ? raw.name.slice(0, 100) : String(i);
    if (!isObject(raw.hosts) || Object.keys(raw.hosts).length === 0) {
      throw new RegistryError(`servers[${server}].hosts must be a non-empty object`);
    }
    for (const [name, value] of Object.entries(raw.hosts)) {
      const entry = hostEntry(server, raw, name, value, options.arnsOnly);
      if (hosts.has(entry.host)) throw new RegistryError(`host ${entry.host} is listed twice`);
      hosts.set(entry.host, entry);
    }
  });
  return hosts;
}

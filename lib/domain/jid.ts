// JIDs (RFC 7622), simplified: localpart and domain are case-folded, the resource is kept.
export class JidError extends Error {
  override name = 'JidError';
}

export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

const LOCAL_FORBIDDEN = /["&'/:<>@\s]/u;
const LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}])?$/u;
// Control characters are never part of a JID.
const CONTROL = /[\u0000-\u001f\u007f]/u;

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function normalizeDomain(raw: string): string {
  let domain = raw.normalize('NFC').toLowerCase();
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (!domain || bytes(domain) > 1023) throw new JidError(`invalid domain "${raw}"`);
  const ip6 = /^\[[0-9a-f:.]+\]$/.test(domain);
  if (!ip6 && !domain.split('.').every((label) => LABEL.test(label))) throw new JidError(`invalid domain "${raw}"`);
  return domain;
}

export function parseJid(raw: string): Jid {
  if (typeof raw !== 'string' || raw.length === 0) throw new JidError('empty JID');
  if (CONTROL.test(raw)) throw new JidError(`invalid JID "${raw.replace(CONTROL, '?')}": control character`);
  const slash = raw.indexOf('/');
  const bare = slash === -1 ? raw : raw.slice(0, slash);
  const resource = slash === -1 ? '' : raw.slice(slash + 1).normalize('NFC');
  const at = bare.indexOf('@');
  const local = at === -1 ? '' : bare.slice(0, at).normalize('NFC').toLowerCase();
  const domainPart = at === -1 ? bare : bare.slice(at + 1);
  if (at !== -1 && (!local || LOCAL_FORBIDDEN.test(local) || bytes(local) > 1023)) {
    throw new JidError(`invalid JID "${raw}": bad localpart`);
  }
  if (slash !== -1 && (!resource || bytes(resource) > 1023)) throw new JidError(`invalid JID "${raw}": bad resource`);
  let domain: string;
  try {
    domain = normalizeDomain(domainPart);
  } catch {
    throw new JidError(`invalid JID "${raw}": bad domain`);
  }
  return { local, domain, resource };
}

export function bareJid(jid: Jid): string {
  return jid.local ? `${jid.local}@${jid.domain}` : jid.domain;
}

export function formatJid(jid: Jid): string {
  return jid.resource ? `${bareJid(jid)}/${jid.resource}` : bareJid(jid);
}

/** A full JID with localpart and resource, e.g. a user's session. */
export function parseFullJid(raw: string, what = 'JID'): Jid {
  const jid = parseJid(raw);
  if (!jid.local || !jid.resource) throw new JidError(`${what} "${raw}" must be a full JID (user@domain/resource)`);
  return jid;
}

/** A bare JID with a localpart, e.g. a room. */
export function parseBareJid(raw: string, what = 'JID'): Jid {
  const jid = parseJid(raw);
  if (!jid.local || jid.resource) throw new JidError(`${what} "${raw}" must be a bare JID (name@domain)`);
  return jid;
}

// JIDs (RFC 7622), as Prosody accepts them: localpart and domain are case-folded, the resource
// is kept. The rules below refuse what RFC 7622 and XML 1.0 forbid, and nothing that Prosody's
// own stringprep-based checks (util.jid.prep) would let through for a real session or room.
export class JidError extends Error {
  override name = 'JidError';
}

export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

/** RFC 7622 §3.1–3.4: each part is 1 to 1023 octets of UTF-8. */
export const MAX_PART_BYTES = 1023;

/**
 * Never in a JID nor in XML: C0 controls (XML 1.0 §2.2 Char allows only tab, LF and CR, and
 * RFC 7622's PRECIS classes disallow all of Cc), DEL and C1 controls (Cc), lone surrogates (not
 * characters at all; JSON.parse lets "\ud800" through), and the noncharacters U+FFFE/U+FFFF
 * (outside XML 1.0 Char).
 */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\ufffe\uffff]|\p{Cs}/u;

/** RFC 7622 §3.3.1: the localpart may not hold these (nor whitespace, RFC 7613 IdentifierClass). */
const LOCAL_FORBIDDEN = /["&'/:<>@]|\p{White_Space}/u;

/**
 * A domain label (RFC 7622 §3.2, IDNA2008 U-labels or ASCII). In ASCII only letters, digits,
 * '-' and '_' (Prosody accepts `_xmpp` style labels); any other non-ASCII letter, mark (IDN
 * scripts such as Devanagari need combining marks), digit or symbol is allowed. Whitespace and
 * the full-stop look-alikes (U+3002, U+FF0E, U+FF61, separators in IDNA) never are. No label
 * length limit: Prosody's nameprep checks none, and a name longer than DNS allows reaches no
 * server, so storing it is harmless.
 */
const LABEL = /^(?:[a-z0-9_-]|[^\u0000-\u007f\p{White_Space}\u3002\uff0e\uff61])+$/u;

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** For messages: a bounded, printable echo of what was sent. */
export function echo(raw: string): string {
  const shown = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  return JSON.stringify(shown.replace(/\p{Cs}/gu, '\ufffd'));
}

/**
 * Refuses what no JID part nor XML text may hold (see FORBIDDEN). `what` names it in the error;
 * a function is called only then (an echo of the input costs more than the check itself).
 */
export function checkChars(raw: string, what: string | (() => string)): void {
  if (!FORBIDDEN.test(raw)) return;
  const name = typeof what === 'function' ? what() : what;
  throw new JidError(`${name} holds a control character, a lone surrogate or U+FFFE/U+FFFF`);
}

/** A resourcepart (also a MUC nick, the resource of an occupant JID): 1–1023 UTF-8 octets, NFC. */
export function normalizeResource(raw: string, what = 'resource'): string {
  checkChars(raw, what);
  const resource = raw.normalize('NFC');
  if (!resource) throw new JidError(`empty ${what}`);
  if (bytes(resource) > MAX_PART_BYTES) throw new JidError(`${what} longer than ${MAX_PART_BYTES} bytes of UTF-8`);
  return resource;
}

export function normalizeDomain(raw: string): string {
  checkChars(raw, () => `domain ${echo(raw)}`);
  let domain = raw.normalize('NFC').toLowerCase();
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (!domain) throw new JidError(`invalid domain ${echo(raw)}: empty`);
  if (bytes(domain) > MAX_PART_BYTES)
    throw new JidError(`invalid domain ${echo(raw)}: longer than ${MAX_PART_BYTES} bytes`);
  const ip6 = /^\[[0-9a-f:.]+\]$/.test(domain);
  if (!ip6 && !domain.split('.').every((label) => LABEL.test(label))) throw new JidError(`invalid domain ${echo(raw)}`);
  return domain;
}

export function parseJid(raw: string): Jid {
  if (typeof raw !== 'string' || raw.length === 0) throw new JidError('empty JID');
  checkChars(raw, () => `JID ${echo(raw)}`);
  const slash = raw.indexOf('/');
  const bare = slash === -1 ? raw : raw.slice(0, slash);
  const at = bare.indexOf('@');
  const local = at === -1 ? '' : bare.slice(0, at).normalize('NFC').toLowerCase();
  const domainPart = at === -1 ? bare : bare.slice(at + 1);
  if (at !== -1 && (!local || LOCAL_FORBIDDEN.test(local) || bytes(local) > MAX_PART_BYTES)) {
    throw new JidError(`invalid JID ${echo(raw)}: bad localpart`);
  }
  let resource = '';
  if (slash !== -1) {
    try {
      resource = normalizeResource(raw.slice(slash + 1));
    } catch (err) {
      throw new JidError(`invalid JID ${echo(raw)}: bad resource`, { cause: err });
    }
  }
  let domain: string;
  try {
    domain = normalizeDomain(domainPart);
  } catch (err) {
    throw new JidError(`invalid JID ${echo(raw)}: bad domain`, { cause: err });
  }
  return { local, domain, resource };
}

export function bareJid(jid: Jid): string {
  return jid.local ? `${jid.local}@${jid.domain}` : jid.domain;
}

export function formatJid(jid: Jid): string {
  return jid.resource ? `${bareJid(jid)}/${jid.resource}` : bareJid(jid);
}

/** Two JIDs are the same address once normalized (case-folded bare part, NFC resource). */
export function sameJid(a: string, b: string): boolean {
  try {
    const first = formatJid(parseJid(a));
    // Equal strings are the same address if they are one at all: parsed once.
    return a === b || first === formatJid(parseJid(b));
  } catch {
    return false;
  }
}

/** A full JID with localpart and resource, e.g. a user's session. */
export function parseFullJid(raw: string, what = 'JID'): Jid {
  const jid = parseJid(raw);
  if (!jid.local || !jid.resource) throw new JidError(`${what} ${echo(raw)} must be a full JID (user@domain/resource)`);
  return jid;
}

/** A bare JID with a localpart, e.g. a room. */
export function parseBareJid(raw: string, what = 'JID'): Jid {
  const jid = parseJid(raw);
  if (!jid.local || jid.resource) throw new JidError(`${what} ${echo(raw)} must be a bare JID (name@domain)`);
  return jid;
}

// A strict reader for the one element a stanza API answer holds. ltx's parser is lenient (3.1.2
// keeps the last of two duplicate attributes, drops a second root, ignores text or a NUL after the
// root, lets undeclared prefixes through): each could make one answer read as another. Accepted:
// one root in whitespace, elements, attributes, text, the references of XML 1.0 §4.1; anything
// else is refused (test/adapters/stanza-api/xml.test.ts lists it). The ltx tree is built from
// what was checked, so no second parse can disagree.

// Element from @xmpp/xml: the same ltx build the stanza builders use, so a bundle carries ltx once.
import { Element } from '@xmpp/xml';
import { PingMucError } from '../../support/errors';

export class XmlError extends PingMucError {
  override name = 'XmlError';
}

const MAX_DEPTH = 64;
const NAME_START =
  'A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`;
const NCNAME = `[${NAME_START}][${NAME_CHAR}]*`;
/** QName (Namespaces §4) at the current position. */
const QNAME = new RegExp(`(?:${NCNAME})(?::${NCNAME})?`, 'uy');
const SPACE = /[ \t\r\n]*/y;
/** XML 1.0 §2.2 Char, negated. */
const NOT_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Resolves the references of §4.1 in `raw` (text or an attribute value). */
function resolveReferences(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw new XmlError('"&" that starts no reference');
    const code = /^#x[0-9a-fA-F]{1,6}$/.test(ref)
      ? parseInt(ref.slice(2), 16)
      : /^#[0-9]{1,7}$/.test(ref)
        ? parseInt(ref.slice(1), 10)
        : undefined;
    if (code === undefined) {
      const named = PREDEFINED[ref];
      if (named === undefined)
        throw new XmlError(`entity "&${ref.slice(0, 20)};" is not one of the five predefined ones`);
      return named;
    }
    if (code > 0x10ffff) throw new XmlError('character reference out of range');
    const char = String.fromCodePoint(code);
    if (NOT_CHAR.test(char))
      throw new XmlError(`character reference to U+${code.toString(16).toUpperCase()}, not an XML Char`);
    return char;
  });
}

interface Open {
  el: Element;
  /** In-scope prefix → namespace (the default namespace under ''). */
  scope: Map<string, string>;
}

/** The namespace of a QName in `scope` (Namespaces §6); an unprefixed attribute has none. */
function resolveName(qname: string, scope: Map<string, string>, isAttr: boolean): string | undefined {
  const colon = qname.indexOf(':');
  if (colon === -1) return isAttr ? undefined : scope.get('');
  const prefix = qname.slice(0, colon);
  if (prefix === 'xml') return XML_NS;
  const ns = scope.get(prefix);
  if (ns === undefined) throw new XmlError(`undeclared namespace prefix "${prefix}"`);
  return ns;
}

/** The scope of an element: its parent's, with its own declarations; checks names and attributes in it. */
function elementScope(
  name: string,
  attrs: Record<string, string>,
  parent: Map<string, string> | undefined,
): Map<string, string> {
  const scope = new Map(parent ?? []);
  for (const [attr, value] of Object.entries(attrs)) {
    if (attr === 'xmlns') {
      if (value === '') throw new XmlError('xmlns="" is refused');
      if (value === XML_NS || value === XMLNS_NS) throw new XmlError('reserved namespace as the default');
      scope.set('', value);
    } else if (attr.startsWith('xmlns:')) {
      const prefix = attr.slice(6);
      if (value === '' || prefix === 'xmlns' || (prefix === 'xml') !== (value === XML_NS) || value === XMLNS_NS) {
        throw new XmlError(`bad namespace declaration ${attr}`);
      }
      scope.set(prefix, value);
    }
  }
  if (name.startsWith('xmlns:') || name === 'xmlns') throw new XmlError('"xmlns" as an element name');
  resolveName(name, scope, false);
  const expanded = new Set<string>();
  for (const attr of Object.keys(attrs)) {
    if (attr === 'xmlns' || attr.startsWith('xmlns:')) continue;
    const key = `${resolveName(attr, scope, true) ?? ''}\u0000${attr.slice(attr.indexOf(':') + 1)}`;
    if (expanded.has(key)) throw new XmlError(`duplicate attribute "${attr}" (same expanded name)`);
    expanded.add(key);
  }
  return scope;
}

/** A cursor over the text, one method per construct. */
class StrictReader {
  private pos = 0;
  private readonly stack: Open[] = [];
  private root: Element | undefined;

  constructor(private readonly text: string) {}

  private at(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  private space(): string {
    return this.at(SPACE) ?? '';
  }

  private expect(s: string, what: string): void {
    if (!this.text.startsWith(s, this.pos)) throw new XmlError(`expected ${what} at offset ${this.pos}`);
    this.pos += s.length;
  }

  read(): Element {
    const { text } = this;
    this.space();
    if (text[this.pos] !== '<') throw new XmlError('no root element');
    while (this.pos < text.length && !this.root) {
      if (text[this.pos] !== '<') this.charData();
      else if (text[this.pos + 1] === '!' || text[this.pos + 1] === '?') {
        throw new XmlError('XML with DOCTYPE, comments, CDATA or processing instructions is refused');
      } else if (text[this.pos + 1] === '/') this.endTag();
      else this.startTag();
    }
    this.space();
    if (this.pos < text.length) throw new XmlError('content after the root element (one element only)');
    if (!this.root) throw new XmlError('malformed XML: unclosed element');
    return this.root;
  }

  /** Character data: only inside the root, no "]]>" (§2.4). */
  private charData(): void {
    const top = this.stack[this.stack.length - 1];
    const end = this.text.indexOf('<', this.pos);
    const raw = this.text.slice(this.pos, end === -1 ? this.text.length : end);
    if (!top) throw new XmlError('text outside the root element');
    if (raw.includes(']]>')) throw new XmlError('"]]>" in text');
    top.el.t(resolveReferences(raw));
    this.pos += raw.length;
  }

  private endTag(): void {
    const top = this.stack[this.stack.length - 1];
    this.pos += 2;
    const name = this.at(QNAME);
    if (!top || name !== top.el.name) throw new XmlError(`end tag </${name ?? ''}> does not match`);
    this.space();
    this.expect('>', '">"');
    this.stack.pop();
    if (this.stack.length === 0) this.root = top.el;
  }

  private startTag(): void {
    const top = this.stack[this.stack.length - 1];
    this.pos += 1;
    const name = this.at(QNAME);
    if (!name) throw new XmlError(`bad element name at offset ${this.pos}`);
    const attrs = this.attributes();
    const scope = elementScope(name, attrs, top?.scope);
    const el = top ? top.el.c(name, attrs) : new Element(name, attrs);
    if (this.text.startsWith('/>', this.pos)) {
      this.pos += 2;
      if (!top) this.root = el;
      return;
    }
    this.pos += 1;
    if (this.stack.length >= MAX_DEPTH) throw new XmlError(`nesting deeper than ${MAX_DEPTH}`);
    this.stack.push({ el, scope });
  }

  /** Attributes up to ">" or "/>" (left unread); no duplicate (§3.1 Unique Att Spec). */
  private attributes(): Record<string, string> {
    const attrs: Record<string, string> = {};
    for (;;) {
      const gap = this.space();
      if (this.text.startsWith('/>', this.pos) || this.text[this.pos] === '>') return attrs;
      if (!gap) throw new XmlError(`expected whitespace, ">" or "/>" at offset ${this.pos}`);
      const attr = this.at(QNAME);
      if (!attr) throw new XmlError(`bad attribute name at offset ${this.pos}`);
      // A plain object would drop it silently (a prototype setter), and so would ltx.
      if (attr === '__proto__') throw new XmlError('attribute "__proto__" is refused');
      this.space();
      this.expect('=', '"="');
      this.space();
      const quote = this.text[this.pos];
      if (quote !== '"' && quote !== "'") throw new XmlError(`unquoted attribute value at offset ${this.pos}`);
      const close = this.text.indexOf(quote, this.pos + 1);
      if (close === -1) throw new XmlError('unterminated attribute value');
      const raw = this.text.slice(this.pos + 1, close);
      if (raw.includes('<')) throw new XmlError('"<" in an attribute value');
      this.pos = close + 1;
      if (Object.hasOwn(attrs, attr)) throw new XmlError(`duplicate attribute "${attr}"`);
      attrs[attr] = resolveReferences(raw);
    }
  }
}

/** Parses exactly one element; throws XmlError on anything XML 1.0 or our subset refuses. */
export function parseXml(text: string, maxBytes: number): Element {
  if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new XmlError(`XML larger than ${maxBytes} bytes`);
  const bad = NOT_CHAR.exec(text);
  if (bad)
    throw new XmlError(
      `character U+${(bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`,
    );
  return new StrictReader(text).read();
}

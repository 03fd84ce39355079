// Minimal typings for the parts of ltx and @xmpp/xml we use (neither ships types).
declare module 'ltx' {
  export class Element {
    constructor(name: string, attrs?: Record<string, string | undefined>);
    name: string;
    attrs: Record<string, string>;
    children: Array<Element | string>;
    getName(): string;
    getNS(): string | undefined;
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getText(): string;
    getChildText(name: string, xmlns?: string): string | null;
    c(name: string, attrs?: Record<string, string>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    toString(): string;
  }
  export function parse(xml: string): Element;
}
declare module '@xmpp/xml' {
  // The same class as ltx's (its CommonJS build, ltx/lib/Element.js), re-exported as a value.
  import { Element } from 'ltx';
  type Child = Element | string | null | undefined | false;
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: Array<Child | Child[]>
  ): Element;
  export default xml;
  export { Element };
}

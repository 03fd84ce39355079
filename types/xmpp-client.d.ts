// Minimal typings for the parts of @xmpp/client 0.14 the e2e harness and tests use (it ships none).
declare module '@xmpp/client' {
  import type { Element } from 'ltx';
  interface XmppClient {
    jid: { toString(): string } | null;
    status: string;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: Element): Promise<void>;
    on(event: 'stanza' | 'element', fn: (el: Element) => void): void;
    on(event: 'error' | 'offline' | 'online' | 'status', fn: (...args: unknown[]) => void): void;
    listeners(event: 'element'): Array<(el: Element) => void>;
    removeAllListeners(event: 'element'): void;
    reconnect: { stop(): void };
    iqCallee: { get(ns: string, name: string, handler: (ctx: { stanza: Element }) => Element | undefined): void };
    socket?: { destroy(): void } | null;
  }
  export function client(opts: {
    service: string;
    domain: string;
    username?: string;
    password?: string;
    resource?: string;
  }): XmppClient;
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: Array<Element | string>
  ): Element;
  export type { XmppClient };
}

// Real XMPP users (xmpp.js) for the testbed: join, leave, change nick, record what arrives.
import { client, xml, type XmppClient } from '@xmpp/client';
import type { Element } from 'ltx';
import { sleep, type ProsodyServer } from './testbed';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';

export interface Received {
  at: number;
  el: Element;
}

export class User {
  readonly received: Received[] = [];
  private waiters: Array<() => void> = [];
  jid = '';

  private constructor(
    readonly name: string,
    readonly domain: string,
    private readonly xmpp: XmppClient,
  ) {
    xmpp.on('stanza', (el) => {
      this.received.push({ at: Date.now(), el });
      for (const w of this.waiters.splice(0)) w();
    });
    xmpp.on('error', () => {
      /* reported through waits; a lost stream is not a test failure by itself */
    });
  }

  /** Registers the account on `server` (if password given) and connects. */
  static async connect(
    server: ProsodyServer,
    domain: string,
    name: string,
    password = 'secret-pw',
    resource = 'e2e',
  ): Promise<User> {
    server.register(domain, name, password);
    const xmpp = client({ service: server.c2sService, domain, username: name, password, resource });
    xmpp.reconnect.stop();
    const user = new User(name, domain, xmpp);
    const jid = await xmpp.start();
    user.jid = String(jid);
    return user;
  }

  /** Answers iq gets of `urn:xmpp:ping` itself: `reply` returns the result's child, or an
   * `<error/>` element for an error reply. xmpp.js answers pings with a result in a handler of
   * its own that comes first: every incoming element passes here before reaching it. */
  answerPings(reply: (iq: Element) => Element | undefined): void {
    const others = this.xmpp.listeners('element');
    this.xmpp.removeAllListeners('element');
    this.xmpp.on('element', (el) => {
      if (el.name === 'iq' && el.attrs.type === 'get' && el.getChild('ping', 'urn:xmpp:ping')) {
        const child = reply(el);
        const type = child?.name === 'error' ? 'error' : 'result';
        const answer = xml('iq', { type, id: el.attrs.id, to: el.attrs.from }, ...(child ? [child] : []));
        this.xmpp.send(answer).catch(() => {
          /* the stream is gone: the ping times out, as it would */
        });
        return;
      }
      for (const listener of others) listener(el);
    });
  }

  send(el: Element): Promise<void> {
    return this.xmpp.send(el);
  }

  /** Waits until a stanza matching `pred` has arrived (at or after index `from`). */
  async waitFor(pred: (el: Element) => boolean, timeoutMs = 10_000, from = 0): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find((r) => pred(r.el));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.jid}: no matching stanza within ${timeoutMs} ms; got:\n${this.received.map((r) => r.el.toString()).join('\n')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Joins `room` as `nick`; resolves on the reflected self-presence (status 110). */
  async join(room: string, nick: string): Promise<void> {
    const mark = this.received.length;
    await this.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: NS_MUC })));
    await this.waitFor((el) => isSelfPresence(el, `${room}/${nick}`) && !el.attrs.type, 10_000, mark);
  }

  async leave(room: string, nick: string): Promise<void> {
    const mark = this.received.length;
    await this.send(xml('presence', { to: `${room}/${nick}`, type: 'unavailable' }));
    await this.waitFor((el) => isSelfPresence(el, `${room}/${nick}`) && el.attrs.type === 'unavailable', 10_000, mark);
  }

  /** Nick change: 303 from the old nick, then 110 from the new one. */
  async changeNick(room: string, newNick: string): Promise<void> {
    const mark = this.received.length;
    await this.send(xml('presence', { to: `${room}/${newNick}` }));
    await this.waitFor((el) => isSelfPresence(el, `${room}/${newNick}`) && !el.attrs.type, 10_000, mark);
  }

  /** The ping-muc notifications (unavailable, item none/none, 110 + 333) received so far. */
  notifications(): Received[] {
    return this.received.filter((r) => isNotification(r.el));
  }

  async stop(): Promise<void> {
    try {
      await Promise.race([this.xmpp.stop(), sleep(3000)]);
    } catch {
      /* already gone */
    }
  }
}

function statusCodes(el: Element): string[] {
  const x = el.getChild('x', NS_MUC_USER);
  return x ? x.getChildren('status').map((s) => s.attrs.code ?? '') : [];
}

export function isSelfPresence(el: Element, from: string): boolean {
  return el.name === 'presence' && el.attrs.from === from && statusCodes(el).includes('110');
}

export function isNotification(el: Element): boolean {
  if (el.name !== 'presence' || el.attrs.type !== 'unavailable') return false;
  const codes = statusCodes(el);
  const item = el.getChild('x', NS_MUC_USER)?.getChild('item');
  return (
    codes.includes('110') && codes.includes('333') && item?.attrs.affiliation === 'none' && item.attrs.role === 'none'
  );
}

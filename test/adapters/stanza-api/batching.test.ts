// The StanzaApi port over a batch wire (BatchingStanzaApi): concurrent calls go out together, in
// order, each reading its own item; and RoutingStanzaApi: each host's calls to its own client.
import { describe, expect, it } from 'vitest';
import { xml } from '@xmpp/xml';
import {
  type ApiItem,
  BatchingStanzaApi,
  type Exchanged,
  type StanzaApiWire,
} from '../../../lib/adapters/stanza-api/batching';
import { RoutingStanzaApi } from '../../../lib/adapters/stanza-api/routing';
import type { ItemAnswer } from '../../../lib/adapters/stanza-api/answers';
import type { PingReply } from '../../../lib/domain/model';
import { secretKey } from '../../../lib/domain/signature';
import { NS_API } from '../../../lib/domain/stanzas';
import type { JoinRef, StanzaApi } from '../../../lib/ports';
import { StanzaApiError } from '../../../lib/support/errors';

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const join = (k: number, user = `u${k}@a.example/r`): JoinRef => ({
  user,
  occupant: `r${k}@muc.b.example/n${k}`,
  since: 1000 + k,
});
const signal = (name: string): ItemAnswer => ({ el: xml(name, { xmlns: NS_API }) });

/** A wire answering each item with `answer(item)`; records each batch's kinds. */
function wire(answer: (item: ApiItem) => ItemAnswer, batches: string[][] = []): StanzaApiWire {
  return {
    async exchange(items) {
      batches.push(items.map((i) => i.kind));
      return items.map((i): Exchanged => ({ answer: answer(i), stanza: xml('iq', {}) }));
    },
  };
}

describe('BatchingStanzaApi', () => {
  it('sends concurrent calls of every kind as one batch', async () => {
    const batches: string[][] = [];
    const api = new BatchingStanzaApi(
      wire((i) => signal(i.kind === 'heal' ? 'sent' : i.kind === 'notify' ? 'no-session' : 'timeout'), batches),
      { maxItems: 500, windowMs: 1 },
    );
    const [a, b, c] = await Promise.all([api.selfPing(join(0)), api.heal(join(1)), api.notify(join(2))]);
    expect(batches).toEqual([['self-ping', 'heal', 'notify']]);
    expect([a.kind, b.kind, c]).toEqual(['timeout', 'notified', 'no-session']);
  });

  it('splits at maxItems', async () => {
    const batches: string[][] = [];
    const api = new BatchingStanzaApi(
      wire(() => signal('timeout'), batches),
      { maxItems: 8, windowMs: 1 },
    );
    await Promise.all(Array.from({ length: 20 }, (_, k) => api.heal(join(k))));
    expect(batches.map((b) => b.length)).toEqual([8, 8, 4]);
  });

  it('fails every call of a request that failed with its error', async () => {
    const err = new StanzaApiError('stanza API answered 503', { retry: false });
    const failing = new BatchingStanzaApi({ exchange: () => Promise.reject(err) }, { maxItems: 10, windowMs: 1 });
    const results = await Promise.allSettled([failing.selfPing(join(0)), failing.notify(join(1))]);
    expect(results.map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual([err, err]);
  });

  it('refuses an answer with another number of items', async () => {
    const short = new BatchingStanzaApi(
      { exchange: async (items) => items.slice(1).map(() => ({ answer: signal('sent'), stanza: xml('x') })) },
      { maxItems: 10, windowMs: 1 },
    );
    await expect(Promise.all([short.notify(join(0)), short.notify(join(1))])).rejects.toThrow(/answered 1 items for 2/);
  });

  it('throws for a notification the API could not deliver', async () => {
    const answers: ItemAnswer[] = [
      { refused: '503', reason: 'busy' },
      { refused: '403', reason: 'no' },
      { bad: 'batch answer: no version' },
      signal('timeout'),
      { el: xml('sent', { xmlns: 'urn:other' }) },
    ];
    let k = 0;
    const api = new BatchingStanzaApi(
      wire(() => answers[k++] as ItemAnswer),
      { maxItems: 1, windowMs: 1 },
    );
    for (const _ of answers) await expect(api.notify(join(0))).rejects.toBeInstanceOf(StanzaApiError);
  });

  it('a heal or notification without a usable since fails without the calls gathered with it', async () => {
    const batches: string[][] = [];
    const api = new BatchingStanzaApi(
      wire(() => signal('sent'), batches),
      { maxItems: 10, windowMs: 1 },
    );
    const out = await Promise.allSettled([
      api.heal({ ...join(0), since: Number.NaN }),
      api.notify({ ...join(1), since: 2 ** 53 }),
      api.heal(join(2)),
      api.notify(join(3)),
    ]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect(batches).toEqual([['heal', 'notify']]);
  });

  it('sends a server ping at once without waiting for a batch', async () => {
    const batches: string[][] = [];
    const api = new BatchingStanzaApi(
      wire(() => signal('sent'), batches),
      { maxItems: 10, windowMs: 50 },
    );
    const ping = api.selfPing(join(0));
    await api.serverPing('a.example', 'muc.b.example');
    expect(batches).toEqual([['server-ping']]);
    await ping;
    expect(batches).toEqual([['server-ping'], ['self-ping']]);
  });

  it('throws a final error for a refused server ping', async () => {
    const refusing = new BatchingStanzaApi(
      wire(() => ({ refused: '403', reason: 'own host' })),
      { maxItems: 1 },
    );
    await expect(refusing.serverPing('a.example', 'a.example')).rejects.toMatchObject({ retry: false });
  });
});

describe('RoutingStanzaApi', () => {
  it('routes each call to a client of the user’s host alone', async () => {
    const calls: string[] = [];
    const made: string[] = [];
    const fake = (host: string): StanzaApi => ({
      heal: async (j) => {
        calls.push(`${host} heal ${j.user} ${j.since}`);
        return { kind: 'timeout' } as PingReply;
      },
      selfPing: async (j) => {
        calls.push(`${host} ping ${j.user}`);
        return { kind: 'no-session' };
      },
      notify: async (j) => {
        calls.push(`${host} notify ${j.user}`);
        return 'sent';
      },
      serverPing: async (h, remote) => void calls.push(`${host} server-ping ${h} ${remote}`),
    });
    const shared = 'https://shared.example/stanza';
    const routing = new RoutingStanzaApi(
      {
        multiHost: true,
        webhookKeys: async () => undefined,
        api: async (host) =>
          host === 'd.example'
            ? undefined
            : { url: host === 'a.example' ? `https://${host}/stanza` : shared, keys: [secretKey(SECRET)] },
      },
      (a) => {
        const host = `client${made.length}`;
        made.push(a.url);
        return fake(host);
      },
    );
    await routing.heal(join(0, 'a1@a.example/r'));
    await routing.selfPing(join(1, 'b1@b.example/r'));
    await routing.notify(join(2, 'a2@A.example/r'));
    await routing.notify(join(3, 'c1@c.example/r'));
    await routing.serverPing('b.example', 'muc.b.example');
    // b.example and c.example share a URL and keys, yet each has its own client: a batch never mixes hosts.
    expect(made).toEqual(['https://a.example/stanza', shared, shared]);
    expect(calls).toEqual([
      'client0 heal a1@a.example/r 1000',
      'client1 ping b1@b.example/r',
      'client0 notify a2@A.example/r',
      'client2 notify c1@c.example/r',
      'client1 server-ping b.example muc.b.example',
    ]);
    await expect(routing.selfPing(join(0, 'd1@d.example/r'))).rejects.toThrow(
      /host d\.example is not in the host registry/,
    );
    await expect(routing.notify(join(0, 'not a jid@/'))).rejects.toBeInstanceOf(StanzaApiError);
  });
});

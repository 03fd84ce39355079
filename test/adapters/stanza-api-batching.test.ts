// The v2 batching decorator: concurrent calls go out together, in order, failures per call.
import { describe, expect, it } from 'vitest';
import { runRound } from '../../lib/app/round';
import type { PingReply } from '../../lib/domain/model';
import { unavailable } from '../../lib/domain/stanzas';
import { batchingStanzaApi } from '../../lib/adapters/stanza-api-batching';
import type { StanzaApi } from '../../lib/ports';
import { closeLink, type FakeStanzaApi, roundWorld, seedJoins } from '../support/fakes';

/** A v2 API over the fake (heals too): records each batch's size and the heal batches' apart. */
function v2Heals(fake: FakeStanzaApi, batches: number[], healBatches: number[]): StanzaApi {
  const heal = fake.heal;
  if (!heal) throw new Error('the fake heals');
  return {
    ...v2(fake, batches),
    async healBatch(items) {
      healBatches.push(items.length);
      return Promise.all(items.map((i) => heal(i.user, i.occupant)));
    },
  };
}

/** A v2 API over the fake: records each batch's size. */
function v2(fake: FakeStanzaApi, batches: number[]): StanzaApi {
  return {
    selfPing: (u, o) => fake.selfPing(u, o),
    notify: (p) => fake.notify(p),
    async selfPingBatch(items) {
      batches.push(items.length);
      return Promise.all(items.map((i) => fake.selfPing(i.user, i.occupant)));
    },
    async notifyBatch(items) {
      return Promise.all(items.map(async (p) => ((await fake.notify(p)) ? 'sent' : 'no-session')));
    },
  };
}

describe('batching the stanza API', () => {
  it('sends concurrent self-pings as one request, each call getting its own reply', async () => {
    const w = roundWorld();
    const batches: number[] = [];
    const api = batchingStanzaApi(v2(w.api, batches), { maxItems: 500, windowMs: 1 });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api.selfPing(`u${i}@a.example/r`, `r${i}@muc.b.example/n${i}`)),
    );
    expect(batches).toEqual([20]);
    expect(w.api.pings.map((p) => p.occupant)).toEqual(
      Array.from({ length: 20 }, (_, i) => `r${i}@muc.b.example/n${i}`),
    );
    expect(replies.every((r: PingReply) => r.kind === 'reply')).toBe(true);
  });

  it('splits at maxItems', async () => {
    const w = roundWorld();
    const batches: number[] = [];
    const api = batchingStanzaApi(v2(w.api, batches), { maxItems: 8, windowMs: 1 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => api.selfPing(`u${i}@a.example/r`, `r${i}@muc.b.example/n`)));
    expect(batches).toEqual([8, 8, 4]);
  });

  it('fails every call of a request that failed, and refuses an answer of another length', async () => {
    const failing: StanzaApi = {
      selfPing: () => Promise.reject(new Error('v1')),
      notify: () => Promise.reject(new Error('v1')),
      selfPingBatch: () => Promise.reject(new Error('stanza API answered 503')),
      notifyBatch: async (items) => items.slice(1).map(() => 'sent' as const),
    };
    const api = batchingStanzaApi(failing, { maxItems: 10, windowMs: 1 });
    const results = await Promise.allSettled([
      api.selfPing('a@a.example/r', 'r@m.example/a'),
      api.selfPing('b@a.example/r', 'r@m.example/b'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const presence = unavailable('r@m.example/a', 'a@a.example/r', 'x');
    await expect(Promise.all([api.notify(presence), api.notify(presence)])).rejects.toThrow(
      /batch answered 1 items for 2/,
    );
  });

  it('a notification the batch could not deliver is our failure (retried), never "sent"', async () => {
    const api = batchingStanzaApi(
      {
        selfPing: () => Promise.reject(new Error('v1')),
        notify: () => Promise.reject(new Error('v1')),
        selfPingBatch: async () => [],
        notifyBatch: async (items) => items.map(() => 'failed' as const),
      },
      { maxItems: 10, windowMs: 1 },
    );
    await expect(api.notify(unavailable('r@m.example/a', 'a@a.example/r', 'x'))).rejects.toThrow(/not delivered/);
  });

  it('gathers concurrent heals into one healBatch request, each call getting its own reply', async () => {
    const w = roundWorld();
    const batches: number[] = [];
    const healBatches: number[] = [];
    const api = batchingStanzaApi(v2Heals(w.api, batches, healBatches), { maxItems: 8, windowMs: 1 });
    w.api.answers.set('r3@muc.b.example/n3', 'not-acceptable');
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => api.heal!(`u${i}@a.example/r`, `r${i}@muc.b.example/n${i}`)),
    );
    expect(healBatches).toEqual([8, 4]);
    expect(batches).toEqual([]);
    expect(replies.map((r) => r.kind)).toEqual(Array.from({ length: 12 }, (_, i) => (i === 3 ? 'notified' : 'reply')));
    expect(w.api.pings.map((p) => p.occupant)).toEqual(
      Array.from({ length: 12 }, (_, i) => `r${i}@muc.b.example/n${i}`),
    );
    expect(w.api.notifications.map((n) => n.occupant)).toEqual(['r3@muc.b.example/n3']);
    // Self-pings stay self-pings, in their own batches.
    await Promise.all([api.selfPing('a@a.example/r', 'r@m.example/a'), api.selfPing('b@a.example/r', 'r@m.example/b')]);
    expect(batches).toEqual([2]);
    expect(healBatches).toEqual([8, 4]);
  });

  it('has no heal when the wrapped API has no healBatch', () => {
    const w = roundWorld();
    const api = batchingStanzaApi(v2(w.api, []), { maxItems: 10 });
    expect(api.heal).toBeUndefined();
    expect(api.healBatch).toBeUndefined();
    expect(api.selfPingBatch).toBeDefined();
  });

  it('is the plain API when it has no batch methods', () => {
    const w = roundWorld();
    expect(batchingStanzaApi(w.api, { maxItems: 10 })).toBe(w.api);
  });

  it('a round through it with heals: the server tells the ghost, no notification request', async () => {
    const w = roundWorld({ PING_MUC_CONCURRENCY: '50', PING_MUC_PAGE_SIZE: '200' });
    const batches: number[] = [];
    const healBatches: number[] = [];
    const v2api = v2Heals(w.api, batches, healBatches);
    let notifyBatches = 0;
    const notifyBatch = v2api.notifyBatch!;
    v2api.notifyBatch = (items) => {
      notifyBatches++;
      return notifyBatch(items);
    };
    w.deps.api = batchingStanzaApi(v2api, { maxItems: 500, windowMs: 1 });
    const joins = await seedJoins(w, 120);
    w.api.answers.set(joins[7]!.occupant, 'not-acceptable');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    await runRound(w.deps, start.job);
    expect(w.api.pings).toHaveLength(120);
    expect(batches).toEqual([]);
    expect(Math.max(...healBatches)).toBeLessThanOrEqual(50);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([joins[7]!.occupant]);
    expect(notifyBatches).toBe(0);
  });

  it('a round through it pings every join once, in batches of up to C', async () => {
    const w = roundWorld({ PING_MUC_CONCURRENCY: '50', PING_MUC_PAGE_SIZE: '200' });
    const batches: number[] = [];
    w.deps.api = batchingStanzaApi(v2(w.api, batches), { maxItems: 500, windowMs: 1 });
    const joins = await seedJoins(w, 300);
    w.api.answers.set(joins[7]!.occupant, 'not-acceptable');
    await closeLink(w);
    const start = w.scheduler.takeNext()!;
    w.clock.t = start.at;
    await runRound(w.deps, start.job);
    expect(w.api.pings).toHaveLength(300);
    expect(new Set(w.api.pings.map((p) => p.occupant)).size).toBe(300);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([joins[7]!.occupant]);
    expect(Math.max(...batches)).toBeLessThanOrEqual(50);
    expect(batches.length).toBeLessThan(300 / 10);
  });
});

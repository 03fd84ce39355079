// A round larger than one invocation checkpoints and continues: none pinged twice, none skipped.
import { afterEach, expect, it } from 'vitest';
import { MEMORY, startLocalService, type LocalService } from '../../lib/local/service';
import { startStanzaApiStub, type StanzaApiStub } from '../support/stanza-api-stub';
import { API_SECRET, WEBHOOK_SECRET } from '../support/service';
import { nextSeq, postEvents } from '../support/events';
import { waitFor } from '../support/wait';

let service: LocalService | undefined;
let stub: StanzaApiStub | undefined;
afterEach(async () => {
  await service?.close();
  await stub?.close();
});

it('pages through 3+ invocations, pinging every join exactly once', async () => {
  stub = await startStanzaApiStub(API_SECRET);
  const lines: string[] = [];
  service = await startLocalService({
    dataDir: MEMORY,
    pollMs: 20,
    // Every page ends the invocation: the deadline margin is always larger than this budget.
    roundBudgetMs: 1,
    log: (l) => lines.push(l),
    env: {
      PING_MUC_API_URL: stub.url,
      PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PING_MUC_API_SECRET: API_SECRET,
      PING_MUC_DELAY_SECONDS: '0.2',
      PING_MUC_PAGE_SIZE: '5',
      PING_MUC_CONCURRENCY: '2',
    },
  });
  const joins = Array.from({ length: 23 }, (_, i) => ({ type: 'join', seq: nextSeq(), host: 'a.example', user: `u${i}@a.example/r`, room: `r${i % 4}@muc.b.example`, nick: `n${i}` }));
  stub.answers.set('r0@muc.b.example/n4', 'not-acceptable');
  expect((await postEvents(service.eventsUrl, WEBHOOK_SECRET, joins)).status).toBe(200);
  expect((await postEvents(service.eventsUrl, WEBHOOK_SECRET, [{ type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.b.example'], direction: 'in' }])).status).toBe(200);
  await waitFor('the round to finish', () => lines.some((l) => l.includes('"round done"')), 15_000);
  const pinged = stub.pings.map((p) => p.user).sort();
  expect(pinged).toEqual(joins.map((j) => j.user).sort());
  expect(new Set(pinged).size).toBe(23);
  expect(lines.filter((l) => l.includes('"round checkpoint"')).length).toBeGreaterThanOrEqual(3);
  expect(stub.notifications.map((n) => n.user)).toEqual(['u4@a.example/r']);
});

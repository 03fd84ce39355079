// A round larger than one invocation checkpoints and continues: none pinged twice, none skipped.
import { afterEach, expect, it } from 'vitest';
import { MEMORY, startLocalService, type LocalService } from '../../../lib/wiring/local';
import { startStanzaApiStub, type StanzaApiStub } from '../../../harness/stanza-api-stub';
import { API_SECRET, WEBHOOK_SECRET } from '../../support/service';
import { nextSeq, postEvents } from '../../support/events';
import { waitFor } from '../../support/wait';

let running: { service?: LocalService; stub?: StanzaApiStub } = {};
afterEach(async () => {
  await running.service?.close();
  await running.stub?.close();
  running = {};
});

/** The link of a.example to muc.b.example closes. */
async function closeLink(service: LocalService): Promise<void> {
  const close = { type: 's2s-close', seq: nextSeq(), host: 'a.example', remotes: ['muc.b.example'], direction: 'in' };
  expect((await postEvents(service.eventsUrl, WEBHOOK_SECRET, [close])).status).toBe(200);
}

/** The local service on a fresh stub; returns them and the service's log lines. */
async function start(env: Record<string, string>, roundBudgetMs?: number) {
  const api = (running.stub = await startStanzaApiStub(API_SECRET));
  const lines: string[] = [];
  const svc = (running.service = await startLocalService({
    dataDir: MEMORY,
    pollMs: 20,
    roundBudgetMs,
    log: (l) => lines.push(l),
    env: {
      PING_MUC_API_URL: api.url,
      PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PING_MUC_API_SECRET: API_SECRET,
      PING_MUC_DELAY_SECONDS: '0.2',
      ...env,
    },
  }));
  return { stub: api, service: svc, lines };
}

it('pings every join exactly once across 3+ invocations', async () => {
  // Every page ends the invocation: the deadline margin is always larger than this budget.
  const { stub, service, lines } = await start({ PING_MUC_PAGE_SIZE: '5', PING_MUC_CONCURRENCY: '2' }, 1);
  const joins = Array.from({ length: 23 }, (_, i) => ({
    type: 'join',
    seq: nextSeq(),
    host: 'a.example',
    user: `u${i}@a.example/r`,
    room: `r${i % 4}@muc.b.example`,
    nick: `n${i}`,
  }));
  stub.answers.set('r0@muc.b.example/n4', 'not-acceptable');
  expect((await postEvents(service.eventsUrl, WEBHOOK_SECRET, joins)).status).toBe(200);
  await closeLink(service);
  await waitFor('the round to finish', () => lines.some((l) => l.includes('"round done"')), 15_000);
  const pinged = stub.pings.map((p) => p.user).sort();
  expect(pinged).toEqual(joins.map((j) => j.user).sort());
  expect(new Set(pinged).size).toBe(23);
  expect(lines.filter((l) => l.includes('"round checkpoint"')).length).toBeGreaterThanOrEqual(3);
  expect(stub.notifications.map((n) => n.user)).toEqual(['u4@a.example/r']);
});

it('resumes after a mid-round failure from the last page fully done', async () => {
  const { stub, service, lines } = await start({ PING_MUC_PAGE_SIZE: '4', PING_MUC_CONCURRENCY: '1' });
  // One user per room, so the index order (room, user) is the order of the pings.
  const joins = Array.from({ length: 12 }, (_, i) => ({
    type: 'join',
    seq: nextSeq(),
    host: 'a.example',
    user: `u${i}@a.example/r`,
    room: `r${String(i).padStart(2, '0')}@muc.b.example`,
    nick: `n${i}`,
  }));
  stub.answers.set('r09@muc.b.example/n9', 'http-500');
  expect((await postEvents(service.eventsUrl, WEBHOOK_SECRET, joins)).status).toBe(200);
  await closeLink(service);
  // Failing until the invocation gives up (calls are retried in place first).
  await waitFor('the failed invocation', () => lines.some((l) => l.includes('"round failed, will retry"')), 10_000);
  stub.answers.set('r09@muc.b.example/n9', 'result');
  await waitFor('the round to finish', () => lines.some((l) => l.includes('"round done"')), 15_000);
  const count = (i: number) => stub.pings.filter((p) => p.user === `u${i}@a.example/r`).length;
  // Pages 0–3 and 4–7 were done before the failure: never pinged again. Page 8–11 is redone.
  for (let i = 0; i < 8; i++) expect(count(i), `u${i}`).toBe(1);
  expect(count(8)).toBe(2);
  // Tried in place in the failed invocation, then once more after it.
  expect(count(9)).toBeGreaterThanOrEqual(2);
  expect(stub.pings.filter((p) => p.user === 'u9@a.example/r' && p.answer === 'result')).toHaveLength(1);
  for (let i = 10; i < 12; i++) expect(count(i), `u${i}`).toBe(1);
});

it('a failure with pings in flight on several pages never checkpoints past the failed join', async () => {
  const { stub, lines } = await start({ PING_MUC_PAGE_SIZE: '4', PING_MUC_CONCURRENCY: '4' });
  const joins = Array.from({ length: 40 }, (_, i) => ({
    type: 'join',
    seq: nextSeq(),
    host: 'a.example',
    user: `u${i}@a.example/r`,
    room: `r${String(i).padStart(2, '0')}@muc.b.example`,
    nick: `n${i}`,
  }));
  stub.answers.set('r07@muc.b.example/n7', 'http-500');
  expect((await postEvents(running.service!.eventsUrl, WEBHOOK_SECRET, joins)).status).toBe(200);
  await closeLink(running.service!);
  await waitFor('the failed invocation', () => lines.some((l) => l.includes('"round failed, will retry"')), 10_000);
  stub.answers.set('r07@muc.b.example/n7', 'result');
  await waitFor('the round to finish', () => lines.some((l) => l.includes('"round done"')), 15_000);
  const count = (i: number) => stub.pings.filter((p) => p.user === `u${i}@a.example/r`).length;
  expect(stub.pings.filter((p) => p.user === 'u7@a.example/r' && p.answer === 'result')).toHaveLength(1);
  for (let i = 0; i < 40; i++) expect(count(i), `u${i}`).toBeGreaterThanOrEqual(1);
  // Only pages from the failed one on are redone: the first page never again.
  for (let i = 0; i < 4; i++) expect(count(i), `u${i}`).toBe(1);
});

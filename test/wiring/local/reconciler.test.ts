// The local service's reconciler: a timer re-arms a window whose start job was lost, so its
// round runs and tells the ghost; close() stops the timer before the store goes away.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MEMORY, startLocalService, type LocalService } from '../../../lib/wiring/local';
import { API_SECRET, WEBHOOK_SECRET } from '../../support/service';
import { startStanzaApiStub, type StanzaApiStub } from '../../../harness/stanza-api-stub';
import { sleep, waitFor } from '../../support/wait';

const HOST = 'a.example';
const REMOTE = 'muc.lost.example';
let stub: StanzaApiStub;
let service: LocalService;
let closed = false;
const logs: Array<{ message: string }> = [];

beforeAll(async () => {
  stub = await startStanzaApiStub(API_SECRET);
  service = await startLocalService({
    dataDir: MEMORY,
    pollMs: 25,
    reconcileMs: 100,
    log: (line) => logs.push(JSON.parse(line)),
    env: {
      PING_MUC_API_URL: stub.url,
      PING_MUC_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PING_MUC_API_SECRET: API_SECRET,
      PING_MUC_DELAY_SECONDS: '1',
      LOG_LEVEL: 'info',
    },
  });
});
afterAll(async () => {
  if (!closed) await service?.close();
  await stub?.close();
});

it('tells the ghost of a window whose start was never scheduled', async () => {
  const now = Date.now();
  const seq = now * 1000;
  const user = `ghost@${HOST}/r`;
  const room = `lobby@${REMOTE}`;
  await service.store.putJoin(
    { host: HOST, user, room, remote: REMOTE, nick: 'ghost', seq: seq - 600_000_000 },
    Math.floor(now / 1000) + 3600,
  );
  stub.answers.set(`${room}/ghost`, 'not-acceptable');
  // The close was recorded ten minutes ago and its start job lost: nothing is scheduled.
  const at = now - 600_000;
  await service.store.recordClose(HOST, REMOTE, seq - 500_000_000, at, 'lost1', at + 1000);
  await waitFor('the ghost told', () => stub.notifications.some((n) => n.user === user), 10_000);
  expect(logs.some((l) => l.message === 'overdue window: start re-armed')).toBe(true);
  expect(await service.store.pendingClose(HOST, REMOTE)).toBeUndefined();
});

it('stops its timer on close()', async () => {
  await service.close();
  closed = true;
  // A timer left running would now reconcile against a closed store, and log its failure.
  await sleep(400);
  expect(logs.filter((l) => l.message === 'reconciler failed')).toEqual([]);
});

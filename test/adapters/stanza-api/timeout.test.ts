// A stanza API call that timed out is not tried again in place: the deadline margin counts one
// timeout per call. The client marks its own timeout `retry: false`, and the wrap keeps the flag.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import { StanzaApiError, TransportError } from '../../../lib/support/errors';
import { retrying } from '../../../lib/support/retry';
import { systemClock } from '../../../lib/support/clock';
import { closeLink, roundWorld, seedJoins } from '../../support/fakes';

let server: Server;
let url = '';
let requests = 0;
/** Requests that carry a self-ping or heal: the round's lead may send a server ping before them. */
let pingRequests = 0;

beforeAll(async () => {
  // Reads the request, never answers: every call runs into the client's timeout.
  server = createServer((req) => {
    requests++;
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      if (/<heal |<iq /.test(body)) pingRequests++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stanza`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  requests = 0;
  pingRequests = 0;
});

const JOIN = { user: 'u0@a.example/r', occupant: 'room0@muc.b.example/u0', since: 1_733_580_000_000_000 };
const client = () => new HttpStanzaApi({ url, key: Buffer.alloc(32, 7), timeoutMs: 200, windowMs: 1 });

/** A heal that times out under the round's retry policy, and its error. */
const timedOut = async () => {
  const api = client();
  // The round's policy (lib/app/pass.ts API_RETRY): two tries, the second only if `retry !== false`.
  const policy = {
    tries: 2,
    baseMs: 1,
    maxMs: 1,
    retryable: (e: unknown) => (e as { retry?: unknown }).retry !== false,
  };
  return retrying(systemClock, () => api.heal(JOIN), policy).catch((e: unknown) => e);
};

it("a timed-out call is sent once by the round's in-place retry", async () => {
  await timedOut();
  expect(requests).toBe(1);
});

it('a timed-out call fails with retry: false with its cause', async () => {
  const err = await timedOut();
  expect(err).toBeInstanceOf(StanzaApiError);
  expect((err as StanzaApiError).retry).toBe(false);
  expect((err as Error).message).toMatch(/did not answer within 200 ms/);
  const cause = (err as Error).cause;
  expect(cause).toBeInstanceOf(TransportError);
  expect((cause as TransportError).retry).toBe(false);
});

// The default policy of lib/support/retry.ts reads the flag too.
it('a timed-out call is sent once by the default retry policy', async () => {
  const api = client();
  await expect(retrying(systemClock, () => api.notify(JOIN), { tries: 3, baseMs: 1, maxMs: 1 })).rejects.toThrow(
    /did not answer/,
  );
  expect(requests).toBe(1);
});

it('a round whose self-ping timed out sends one HTTP request for its one join', async () => {
  const api = client();
  const w = roundWorld({ PING_MUC_RECHECKS: '0', PING_MUC_RETRY_ATTEMPTS: '0' });
  w.deps.api = api;
  await seedJoins(w, 1);
  await closeLink(w);
  const start = w.scheduler.takeNext();
  if (!start) throw new Error('the close scheduled no round');
  w.clock.t = start.at;
  const { runRound } = await import('../../../lib/app/round');
  await runRound(w.deps, start.job).catch(() => undefined);
  expect(pingRequests).toBe(1);
});

// The events endpoint: verify, validate, de-duplicate, then apply server events in order.
import type { Event } from './domain/events';
import { EventError, parseEvents } from './domain/events';
import { SignatureError, TOLERANCE_SECONDS, verify } from './domain/signature';
import { recordClose } from './close';
import type { RoundDeps } from './round';

/**
 * How long an applied webhook-id is remembered. A retry after that is applied again, which
 * changes nothing: events are ordered by seq.
 */
const REPLAY_WINDOW_SECONDS = 2 * TOLERANCE_SECONDS;

/** Tombstones of leaves outlive any plausible retry of an older join. */
const LEAVE_TOMBSTONE_SECONDS = 86_400;

export type IngestDeps = Omit<RoundDeps, 'api'> & { webhookKey: Buffer };

export interface HttpRequest {
  method: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export interface HttpResponse {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

const reply = (status: number, body: Record<string, unknown>, headers?: Record<string, string>): HttpResponse => ({ status, body, headers });

export async function applyEvent(deps: IngestDeps, event: Event): Promise<void> {
  const { store, config } = deps;
  const nowSeconds = Math.floor((deps.now ?? Date.now)() / 1000);
  switch (event.type) {
    case 'join': {
      const { host, user, room, remote, nick, seq } = event;
      return store.putJoin({ host, user, room, remote, nick, seq }, nowSeconds + config.joinTtlSeconds);
    }
    case 'leave':
      return store.leave(event.host, event.user, event.room, event.seq, nowSeconds + LEAVE_TOMBSTONE_SECONDS);
    case 'session-end':
      await store.endSession(event.host, event.user, event.seq);
      return;
    case 'host-start':
      await store.startHost(event.host, event.seq);
      return;
    case 's2s-close':
      for (const remote of event.remotes) await recordClose(deps, event.host, remote, event.seq);
      return;
  }
}

export async function handleEvents(deps: IngestDeps, req: HttpRequest): Promise<HttpResponse> {
  const { store, config, log, metrics } = deps;
  if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });
  if (req.body.length > config.maxBodyBytes) return reply(413, { error: `body larger than ${config.maxBodyBytes} bytes` });
  const now = (deps.now ?? Date.now)();
  let id: string;
  try {
    id = verify(deps.webhookKey, req.headers, req.body, Math.floor(now / 1000));
  } catch (err) {
    if (!(err instanceof SignatureError)) throw err;
    log.warn('events refused', { status: 401, reason: err.message });
    return reply(401, { error: err.message });
  }
  let events: Event[];
  try {
    events = parseEvents(req.body.toString('utf8'));
  } catch (err) {
    if (!(err instanceof EventError)) throw err;
    log.warn('events refused', { status: 400, reason: err.message, webhookId: id });
    return reply(400, { error: err.message });
  }
  // Remembered only once applied: a crash mid-batch leaves the retry free to apply it all. Two
  // copies racing both apply, which is harmless since every event is ordered by its seq.
  if (await store.webhookApplied(id)) {
    log.info('events replay ignored', { webhookId: id });
    return reply(200, { ok: true, replay: true });
  }
  try {
    for (const event of events) {
      await applyEvent(deps, event);
      metrics.count('Events', 'EventType', event.type);
    }
    await store.rememberWebhook(id, Math.floor(now / 1000) + REPLAY_WINDOW_SECONDS);
  } catch (err) {
    // The sender retries with the same webhook-id; events are idempotent.
    log.error('events failed', { webhookId: id, error: (err as Error).message });
    return reply(503, { error: 'temporary failure, retry later' }, { 'retry-after': '5' });
  }
  log.debug('events applied', { webhookId: id, count: events.length });
  return reply(200, { ok: true, applied: events.length });
}

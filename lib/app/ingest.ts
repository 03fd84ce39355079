// The events endpoint: verify, validate, de-duplicate, then apply server events in order.
import type { Event } from '../domain/events';
import { EventError, parseEvents } from '../domain/events';
import { SignatureError, TOLERANCE_SECONDS, verify } from '../domain/signature';
import { seconds } from '../support/clock';
import { linkClosed } from './link-close';
import type { IngestDeps } from './deps';

export type { IngestDeps } from './deps';

/**
 * How long an applied webhook-id is remembered. A retry after that is applied again, which
 * changes nothing: events are ordered by seq.
 */
const REPLAY_WINDOW_SECONDS = 2 * TOLERANCE_SECONDS;

/** Tombstones of leaves outlive any plausible retry of an older join. */
const LEAVE_TOMBSTONE_SECONDS = 86_400;

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
  const { joins, config } = deps;
  const nowSeconds = seconds(deps.clock.now());
  switch (event.type) {
    case 'join': {
      const { host, user, room, remote, nick, seq } = event;
      return joins.putJoin({ host, user, room, remote, nick, seq }, nowSeconds + config.joinTtlSeconds);
    }
    case 'leave':
      return joins.leave(event.host, event.user, event.room, event.seq, nowSeconds + LEAVE_TOMBSTONE_SECONDS);
    case 'session-end':
      await joins.endSession(event.host, event.user, event.seq);
      return;
    case 'host-start':
      await joins.startHost(event.host, event.seq);
      return;
    case 's2s-close':
      for (const remote of event.remotes) await linkClosed(deps, event.host, remote, event.seq);
      return;
  }
}

export async function handleEvents(deps: IngestDeps, req: HttpRequest): Promise<HttpResponse> {
  const { webhooks, config, log, metrics } = deps;
  if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });
  if (req.body.length > config.maxBodyBytes) return reply(413, { error: `body larger than ${config.maxBodyBytes} bytes` });
  const now = deps.clock.now();
  let id: string;
  try {
    id = verify(deps.webhookKey, req.headers, req.body, seconds(now));
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
  if (await webhooks.webhookApplied(id)) {
    log.info('events replay ignored', { webhookId: id });
    return reply(200, { ok: true, replay: true });
  }
  try {
    for (const event of events) {
      await applyEvent(deps, event);
      metrics.count('Events', 'EventType', event.type);
    }
    await webhooks.rememberWebhook(id, seconds(now) + REPLAY_WINDOW_SECONDS);
  } catch (err) {
    // The sender retries with the same webhook-id; events are idempotent.
    log.error('events failed', { webhookId: id, error: (err as Error).message });
    return reply(503, { error: 'temporary failure, retry later' }, { 'retry-after': '5' });
  }
  log.debug('events applied', { webhookId: id, count: events.length });
  return reply(200, { ok: true, applied: events.length });
}

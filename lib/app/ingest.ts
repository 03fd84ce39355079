// The events endpoint: verify, validate, de-duplicate, then apply server events.
import { TextDecoder } from 'node:util';
import type { Event, Refused } from '../domain/events';
import { EventError, parseBatch } from '../domain/events';
import { hostName } from '../domain/hosts';
import { type Keys, SignatureError, TOLERANCE_SECONDS, verify } from '../domain/signature';
import type { WebhookLog } from '../ports';
import { seconds } from '../support/clock';
import type { HostRegistry } from '../support/registry';
import type { AppDeps, IngestDeps } from './deps';
import { linkClosed, linkUp } from './link';

export type { IngestDeps } from './deps';

/** The header naming the VirtualHost whose events a request carries (docs/hosts.md). */
export const HOST_HEADER = 'ping-muc-host';

/** The events endpoint with a host registry: each request is verified with its host's keys. */
export interface RegistryIngestDeps extends AppDeps {
  webhooks: WebhookLog;
  hosts: HostRegistry;
}

/** With one key (`IngestDeps`, as before the registry: benchmarks, tests) or with a registry. */
export type AnyIngestDeps = IngestDeps | RegistryIngestDeps;

/**
 * How long an applied webhook-id is remembered. A retry after that is applied again, which
 * changes nothing: events are ordered by seq.
 */
const REPLAY_WINDOW_SECONDS = 2 * TOLERANCE_SECONDS;

/** Tombstones of leaves outlive any plausible retry of an older join. */
const LEAVE_TOMBSTONE_SECONDS = 86_400;

/**
 * Keys (user, room) applied at once within a batch. Each is one or two store writes; 16 keeps a
 * batch of 100 events at a few round trips without flooding the store's connection pool.
 */
export const APPLY_PARALLELISM = 16;

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

export interface IngestOptions {
  /** Keys applied at once (1: one event at a time, as before); default APPLY_PARALLELISM. */
  parallelism?: number;
}

const reply = (status: number, body: Record<string, unknown>, headers?: Record<string, string>): HttpResponse => ({
  status,
  body,
  headers,
});

// JSON text is UTF-8 (RFC 8259 §8.1); a lenient decode would turn bad bytes into U+FFFD and
// store JIDs the server never sent.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export async function applyEvent(deps: AnyIngestDeps, event: Event): Promise<void> {
  const { joins, config } = deps;
  const nowSeconds = seconds(deps.clock.now());
  switch (event.type) {
    case 'join': {
      const { host, user, room, remote, nick, seq, since } = event;
      const join =
        since === undefined ? { host, user, room, remote, nick, seq } : { host, user, room, remote, nick, seq, since };
      return joins.putJoin(join, nowSeconds + config.joinTtlSeconds);
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
    case 's2s-up':
      for (const remote of event.remotes) await linkUp(deps, event.host, remote);
      return;
    case 'heartbeat':
      // Counted as Events{EventType=heartbeat} with the others; there is nothing to store.
      return;
  }
}

/**
 * The events whose order matters among themselves share a key: a join and a leave of one user in
 * one room. host-start, session-end and s2s-close touch many keys (a host's or a user's joins, a
 * round's cutoff), so they are fences: everything before one is applied before it, and it before
 * anything after.
 */
function keyOf(event: Event): string | undefined {
  if (event.type === 'heartbeat') return `\u0000heartbeat\u0000${event.seq}`; // touches nothing: no fence
  return event.type === 'join' || event.type === 'leave' ? `${event.user}\u0000${event.room}` : undefined;
}

/** Runs `groups` (each in order) with at most `limit` at once; on a failure starts no more, waits for the running ones, rethrows. */
async function runGroups(groups: Event[][], limit: number, apply: (event: Event) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < groups.length) {
      const group = groups[next++] as Event[];
      try {
        for (const event of group) await apply(event);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, groups.length) }, worker));
  if (failed) throw failed.err;
}

/**
 * Applies a batch: between fences, the events are grouped by key and the groups applied in
 * parallel (bounded), each group in its order. Throws the first failure once nothing runs.
 */
export async function applyEvents(
  deps: AnyIngestDeps,
  events: Event[],
  parallelism = APPLY_PARALLELISM,
): Promise<void> {
  const apply = async (event: Event) => {
    await applyEvent(deps, event);
    deps.metrics.count('Events', 'EventType', event.type);
  };
  let groups = new Map<string, Event[]>();
  const flush = async () => {
    if (groups.size > 0) await runGroups([...groups.values()], Math.max(1, parallelism), apply);
    groups = new Map();
  };
  for (const event of events) {
    const key = keyOf(event);
    if (key === undefined) {
      await flush();
      await apply(event);
    } else {
      const group = groups.get(key);
      if (group) group.push(event);
      else groups.set(key, [event]);
    }
  }
  await flush();
}

/** Which keys verify a request, and the host its events must be for (none: any host, as before the registry). */
interface Authority {
  keys: Keys;
  host?: string;
}

/**
 * The keys of the request's host (header `ping-muc-host`, docs/hosts.md), or the answer that
 * refuses it: a registry needs the header and lists the host; without a registry the header is
 * optional and the one key verifies every host.
 */
async function authority(deps: AnyIngestDeps, req: HttpRequest): Promise<Authority | HttpResponse> {
  const raw = req.headers[HOST_HEADER];
  let host: string | undefined;
  if (raw !== undefined && raw !== '') {
    try {
      host = hostName(raw);
    } catch {
      return reply(400, { error: `${HOST_HEADER} is not a domain` });
    }
  }
  if (!('hosts' in deps)) return { keys: deps.webhookKey, host };
  const { hosts, log } = deps;
  if (hosts.multiHost && host === undefined) {
    return reply(401, {
      error: `missing ${HOST_HEADER} header: this service serves several hosts and picks the key by it`,
    });
  }
  let keys: Buffer[] | undefined;
  try {
    keys = await hosts.webhookKeys(host ?? '');
  } catch (err) {
    log.error('events: host registry or secret unavailable', { host, error: (err as Error).message });
    return reply(503, { error: 'temporary failure, retry later' }, { 'retry-after': '5' });
  }
  if (!keys) return reply(403, { error: `host ${host} is not served here: not in the host registry` });
  return { keys, host };
}

/** Verifies the request; returns its webhook id and host, or the refusal. */
async function authenticate(
  deps: AnyIngestDeps,
  req: HttpRequest,
  now: number,
): Promise<{ id: string; host?: string } | HttpResponse> {
  const auth = await authority(deps, req);
  if ('status' in auth) {
    deps.log.warn('events refused', { status: auth.status, reason: auth.body.error });
    return auth;
  }
  try {
    return { id: verify(auth.keys, req.headers, req.body, seconds(now)), host: auth.host };
  } catch (err) {
    if (!(err instanceof SignatureError)) throw err;
    deps.log.warn('events refused', { status: 401, reason: err.message, host: auth.host });
    return reply(401, { error: err.message });
  }
}

/**
 * The batch's events, with the refused ones: invalid, or (when the request names its host) for
 * another host than the one whose key signed it. Throws EventError for a bad envelope.
 */
function readBatch(body: Buffer, host: string | undefined): { events: Event[]; refused: Refused[] } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new EventError('body is not valid UTF-8');
  }
  const batch = parseBatch(text);
  if (host === undefined) return { events: batch.events.map((e) => e.event), refused: batch.refused };
  const events: Event[] = [];
  const refused = [...batch.refused];
  for (const { index, event } of batch.events) {
    if (event.host === host) events.push(event);
    else
      refused.push({
        index,
        type: event.type,
        error: `event for host ${event.host} not signed by ${event.host}'s key (signed for ${host})`,
      });
  }
  refused.sort((a, b) => a.index - b.index);
  return { events, refused };
}

export async function handleEvents(
  deps: AnyIngestDeps,
  req: HttpRequest,
  options: IngestOptions = {},
): Promise<HttpResponse> {
  const { webhooks, config, log } = deps;
  if (req.method !== 'POST') return reply(405, { error: 'use POST' }, { allow: 'POST' });
  if (req.body.length > config.maxBodyBytes)
    return reply(413, { error: `body larger than ${config.maxBodyBytes} bytes` });
  const now = deps.clock.now();
  const auth = await authenticate(deps, req, now);
  if ('status' in auth) return auth;
  const { id, host } = auth;
  let events: Event[];
  let refused: Refused[];
  try {
    ({ events, refused } = readBatch(req.body, host));
  } catch (err) {
    if (!(err instanceof EventError)) throw err;
    log.warn('events refused', { status: 400, reason: err.message, webhookId: id, host });
    return reply(400, { error: err.message });
  }
  // Remembered only once applied: a crash mid-batch leaves the retry free to apply it all. Two
  // copies racing both apply, which is harmless since every event is ordered by its seq.
  if (await webhooks.webhookApplied(id)) {
    log.info('events replay ignored', { webhookId: id, host });
    return reply(200, { ok: true, replay: true });
  }
  if (refused.length > 0) {
    log.warn('events refused in a batch', { webhookId: id, host, refused: refused.length, first: refused[0] });
    deps.metrics.count('Events', 'EventType', 'refused', refused.length);
  }
  try {
    await applyEvents(deps, events, options.parallelism);
    await webhooks.rememberWebhook(id, seconds(now) + REPLAY_WINDOW_SECONDS);
  } catch (err) {
    // The sender retries with the same webhook-id; events are idempotent.
    log.error('events failed', { webhookId: id, host, error: (err as Error).message });
    return reply(503, { error: 'temporary failure, retry later' }, { 'retry-after': '5' });
  }
  log.debug('events applied', { webhookId: id, host, count: events.length });
  // `refused` only when some were: the body of a clean batch is unchanged for older senders.
  return reply(
    200,
    refused.length > 0 ? { ok: true, applied: events.length, refused } : { ok: true, applied: events.length },
  );
}

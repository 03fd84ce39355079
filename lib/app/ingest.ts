// The events endpoint: verify, validate, then apply server events (each idempotent by its seq).
import { TextDecoder } from 'node:util';
import type { Event, Refused } from '../domain/events';
import { EventError, parseBatch } from '../domain/events';
import { hostName } from '../domain/hosts';
import { type Keys, SignatureError, verify } from '../domain/signature';
import { seconds } from '../support/clock';
import type { HostRegistry } from '../support/registry';
import type { AppDeps, IngestDeps } from './deps';
import { linkClosed, linkUp } from './link';

export type { IngestDeps } from './deps';

/** The header naming the VirtualHost whose events a request carries (docs/hosts.md). */
export const HOST_HEADER = 'ping-muc-host';

/** The events endpoint with a host registry: each request is verified with its host's keys. */
export interface RegistryIngestDeps extends AppDeps {
  hosts: HostRegistry;
}

/** With one key (`IngestDeps`, as before the registry: benchmarks, tests) or with a registry. */
export type AnyIngestDeps = IngestDeps | RegistryIngestDeps;

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
      const { type: _type, ...join } = event;
      return joins.putJoin(join, nowSeconds + config.joinTtlSeconds);
    }
    case 'leave': {
      const { host, epoch, remote, room, user, seq } = event;
      return joins.leave({ host, epoch, remote, room, user }, seq, nowSeconds + LEAVE_TOMBSTONE_SECONDS);
    }
    case 'session-end':
    case 'host-start':
      // Counted only: a join lives in its epoch, which the module's next resync replaces, and
      // the module posts a leave for each join of a session that ends.
      return;
    case 's2s-close':
      for (const remote of event.remotes) await linkClosed(deps, event.host, remote, event.seq, event.epoch);
      return;
    case 's2s-up':
      for (const remote of event.remotes) await linkUp(deps, event.host, remote);
      return;
    case 'heartbeat':
      // The host's last beat, on our clock: the reconciler counts the hosts silent too long.
      return joins.beat(event.host, event.seq, deps.clock.now());
  }
}

/**
 * How the events of a batch are ordered among themselves:
 * - `key`: a join and a leave of one user in one room; a heartbeat (its host's beat), a host-start
 *   and a session-end (both counted only) each a key of its own;
 * - `link`: an s2s-close or s2s-up, per remote it names (the link item of (host, remote)); one
 *   that names none (its only remote was the host itself) is a fence.
 * A run of keyed events and a run of link events are fences to each other: a close's round must
 * find the joins posted before it (with no delay, its start is invoked at once).
 */
type Unit = { event: Event; remote?: string };
type Segment = 'keys' | 'links';

function orderOf(event: Event): { segment?: Segment; keys: string[] } {
  switch (event.type) {
    case 'heartbeat':
    case 'host-start':
    case 'session-end':
      return { keys: [`\u0000${event.type}\u0000${event.seq}`] };
    case 'join':
    case 'leave':
      return { segment: 'keys', keys: [`${event.user}\u0000${event.room}`] };
    case 's2s-close':
    case 's2s-up':
      return { segment: 'links', keys: event.remotes.map((r) => `${event.host}\u0000${r}`) };
    default:
      return { keys: [] };
  }
}

/** Runs `groups` (each in order) with at most `limit` at once; on a failure starts no more, waits for the running ones, rethrows. */
async function runGroups(groups: Unit[][], limit: number, apply: (unit: Unit) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < groups.length) {
      const group = groups[next++] as Unit[];
      try {
        for (const unit of group) await apply(unit);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, groups.length) }, worker));
  if (failed) throw failed.err;
}

/** Applies one unit: an event, or one remote of an s2s-close or s2s-up. */
async function applyUnit(deps: AnyIngestDeps, { event, remote }: Unit): Promise<void> {
  if (remote === undefined) return applyEvent(deps, event);
  if (event.type === 's2s-close') await linkClosed(deps, event.host, remote, event.seq, event.epoch);
  else await linkUp(deps, event.host, remote);
}

/**
 * Applies a batch: between fences, the groups of one key (a (user, room), or a link (host,
 * remote)) are applied in parallel (bounded), each group in its order. The closes of an uplink
 * that dropped (hundreds of remotes, each a store write and a scheduler call) thus run side by
 * side. Throws the first failure once nothing runs.
 */
export async function applyEvents(
  deps: AnyIngestDeps,
  events: Event[],
  parallelism = APPLY_PARALLELISM,
): Promise<void> {
  // An event is counted once all its units are applied.
  const left = new Map<Event, number>();
  const apply = async (unit: Unit) => {
    await applyUnit(deps, unit);
    const n = (left.get(unit.event) ?? 1) - 1;
    left.set(unit.event, n);
    if (n === 0) deps.metrics.count('Events', 'EventType', unit.event.type);
  };
  let groups = new Map<string, Unit[]>();
  let segment: Segment | undefined;
  const flush = async () => {
    if (groups.size > 0) await runGroups([...groups.values()], Math.max(1, parallelism), apply);
    groups = new Map();
    segment = undefined;
  };
  for (const event of events) {
    const order = orderOf(event);
    if (order.keys.length === 0) {
      await flush();
      await apply({ event });
      continue;
    }
    if (order.segment !== undefined && segment !== undefined && order.segment !== segment) await flush();
    segment = order.segment ?? segment;
    left.set(event, order.keys.length);
    const isLink = order.segment === 'links';
    order.keys.forEach((key, i) => {
      const unit: Unit = isLink ? { event, remote: (event as { remotes: string[] }).remotes[i] } : { event };
      const group = groups.get(key);
      if (group) group.push(unit);
      else groups.set(key, [unit]);
    });
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
function readBatch(body: Buffer, host: string | undefined, now: number): { events: Event[]; refused: Refused[] } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new EventError('body is not valid UTF-8');
  }
  const batch = parseBatch(text, now);
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
  const { config, log } = deps;
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
    ({ events, refused } = readBatch(req.body, host, now));
  } catch (err) {
    if (!(err instanceof EventError)) throw err;
    log.warn('events refused', { status: 400, reason: err.message, webhookId: id, host });
    return reply(400, { error: err.message });
  }
  // No replay marker: every event is idempotent by its seq (docs/events.md), so a replayed
  // request (within the signature's tolerance) is applied again and changes nothing.
  if (refused.length > 0) {
    log.warn('events refused in a batch', { webhookId: id, host, refused: refused.length, first: refused[0] });
    deps.metrics.count('Events', 'EventType', 'refused', refused.length);
  }
  try {
    await applyEvents(deps, events, options.parallelism);
  } catch (err) {
    // The sender retries; every event is idempotent by its seq.
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

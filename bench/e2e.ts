// Part 4, end to end on the e2e suite's real testbed (harness/: Testbed, User): Prosody A
// with the users, B with the MUC, real s2s on loopback, xmpp.js clients. The ping-muc local
// service runs in a child process of its own (bench/service-server.ts), as the functions do on
// Lambda, so that it does not share a Node process with the clients. Its store, a dynalite, runs
// in a third process (bench/dynalite-server.ts), not embedded in the service: on AWS the store is
// DynamoDB, a service of its own whose CPU is not the round's, so the service's CPU column is the
// handlers' and the round's only, and the store's is reported apart (cpuMs.store). The machine's
// CPUs are still shared by all of them. A few clients hold M joins
// in total in rooms on B; B is killed with SIGKILL and started again at once (a crash and a
// restart: the rooms are gone), and we measure, per join, the time from the kill to the client's
// notification, minus the configured delay. The same scenario runs with ping-muc
// (mod_ping_muc_cloud + the service) and with Debian's mod_ping_muc + mod_track_muc_joins (loaded
// from the prosody-modules package, not copied here).
import { readFileSync } from 'node:fs';
import { DOMAINS, Testbed } from '../harness/testbed';
import { type AttributeValue, type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { xml } from '@xmpp/client';
import { localDynamoClient } from '../lib/adapters/dynamodb/dynalite';
import { isNotification, isSelfPresence, NS_MUC, User } from '../harness/users';
import { loadConfig } from '../lib/support/config';
import { type Child, forkChild } from './children';

/** ping-muc (its round's heals in stanza API batches), and Debian's in-process module. */
export type Variant = 'ping-muc' | 'debian-mod_ping_muc';
const isPingMuc = (v: Variant) => v !== 'debian-mod_ping_muc';

export interface E2eResult {
  variant: Variant;
  m: number;
  clients: number;
  delayMs: number;
  /** Joins notified at least once (all M should be: every room is gone after the restart). */
  notifiedJoins: number;
  /** kill → notification − delay, over the joins' first notifications (ms). */
  p50Ms: number;
  maxMs: number;
  /** The first, 10th and 90th percentile of the same (ms): where the spread begins and ends. */
  spreadMs?: { first: number; p10: number; p90: number };
  notifications: number;
  duplicateNotifications: number;
  /** How many times each lost join was told (notifications from its occupant JID to its user). */
  told: { once: number; twice: number; more: number; never: number };
  /**
   * Self-ping replies that reached a client (an iq result or error from an occupant JID on B):
   * Debian's mod_ping_muc tracks at most 256 pending pings (module:send_iq's cache); the replies
   * to the pings it evicted are routed to the user's client.
   */
  leakedReplies: number;
  /** Self-pings, counted by their answers in A's debug log (the same method for both). */
  pings: number;
  duplicatePings: number;
  /** ping-muc only: self-pings A's stanza API sent (mod_ping_muc_cloud's own debug lines). */
  apiPings?: number;
  /** ping-muc only: when the round started and ended, ms after the kill (from the service log). */
  roundStartMs?: number;
  roundDoneMs?: number;
  /**
   * CPU (ms) from the kill to the last notification: Prosody A, B (restarted), ping-muc's service
   * (handlers, scheduler, rounds), its store (dynalite, in its own process), the clients' process.
   */
  cpuMs: { a: number; b: number; service: number; store: number; clients: number };
  setupMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * At most this many of the bench's users in one room. Each join is broadcast to every occupant
 * (and each joiner is sent every occupant's presence), so the set-up's traffic grows with the
 * occupants per room: with 20, M = 2,000 took over 3 minutes of set-up on a loaded machine. The
 * rooms are gone after B's restart, so their size does not change what is measured.
 */
export const OCCUPANTS_PER_ROOM = 5;

/** Joins a client has in flight at once during the set-up. */
const JOINS_IN_FLIGHT = 5;
/** How long a join of the set-up may take (User.join's 10 s was too short on a loaded machine). */
const JOIN_TIMEOUT_MS = 120_000;

/** User.join with a longer wait for the reflected self-presence. */
async function joinRoom(u: User, room: string, nick: string): Promise<void> {
  const mark = u.received.length;
  await u.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: NS_MUC })));
  await u.waitFor((el) => isSelfPresence(el, `${room}/${nick}`) && !el.attrs.type, JOIN_TIMEOUT_MS, mark);
}

/** The room of a client's r-th join. */
export const roomOf = (client: number, r: number, perClient: number) =>
  `bench${r + perClient * Math.floor(client / OCCUPANTS_PER_ROOM)}@${DOMAINS.mucB}`;

/**
 * Live joins of `host` in rooms on `remote` in the store, whatever their epoch: a Scan of the
 * table for join items (a nick, no tombstone), so that the bench need not know the module's epoch.
 */
async function storedJoins(client: DynamoDBClient, table: string, host: string, remote: string): Promise<number> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        Select: 'COUNT',
        FilterExpression:
          '#host = :host AND #remote = :remote AND attribute_exists(#nick) AND attribute_not_exists(#left)',
        ExpressionAttributeNames: { '#host': 'host', '#remote': 'remote', '#nick': 'nick', '#left': 'left' },
        ExpressionAttributeValues: { ':host': { S: host }, ':remote': { S: remote } },
        ExclusiveStartKey: start,
      }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

/** An iq answer (result or error) from an occupant JID on B: a self-ping's reply. */
export function isPingReply(el: { name: string; attrs: Record<string, string | undefined> }): boolean {
  return (
    el.name === 'iq' &&
    (el.attrs.type === 'result' || el.attrs.type === 'error') &&
    (el.attrs.from ?? '').includes(`@${DOMAINS.mucB}/`)
  );
}

/** How many joins were told once, twice, more, never, from the times each was told. */
export function toldCounts(times: number[][]): E2eResult['told'] {
  const told = { once: 0, twice: 0, more: 0, never: 0 };
  for (const t of times) {
    if (t.length === 0) told.never++;
    else if (t.length === 1) told.once++;
    else if (t.length === 2) told.twice++;
    else told.more++;
  }
  return told;
}

/** CPU time (ms) of a process so far, from /proc (utime + stime, 100 ticks a second). */
function cpuOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * Self-pings counted by their answers in A's debug log: every answer (result or error) that an
 * occupant JID on B sends to a user of A. A ping that the dead link bounces is answered by A
 * itself with remote-server-not-found, logged the same way (as a dummy s2sin session). The
 * clients here send no iq to B's occupants, so these lines are the self-pings, of either module.
 */
export function pingsInLog(log: string): { total: number; distinct: number } {
  const attr = (tag: string, name: string) => new RegExp(`\\s${name}=['"]([^'"]*)['"]`).exec(tag)?.[1] ?? '';
  const pairs: string[] = [];
  for (const line of log.split('\n')) {
    const tag = /Received\[s2sin\]: (<iq\s[^>]*>)/.exec(line)?.[1];
    if (!tag) continue;
    const from = attr(tag, 'from');
    const to = attr(tag, 'to');
    const type = attr(tag, 'type');
    if ((type === 'result' || type === 'error') && from.includes(`@${DOMAINS.mucB}/`) && to.includes(`@${DOMAINS.a}/`))
      pairs.push(`${to} ${from}`);
  }
  return { total: pairs.length, distinct: new Set(pairs).size };
}

export async function e2eScenario(
  variant: Variant,
  m: number,
  log: (s: string) => void,
  delaySeconds = 2,
): Promise<E2eResult> {
  const t0 = Date.now();
  const perClient = m <= 100 ? 10 : 50;
  const clients = Math.ceil(m / perClient);
  const rooms = Math.ceil(clients / OCCUPANTS_PER_ROOM) * perClient;
  const bed = await Testbed.create({
    logLevel: 'debug',
    // Every room of B in memory: Prosody keeps 100 (muc_room_cache_size) and hibernates the
    // others to its storage, from which the restarted B restores them with their occupants.
    // Those joins would not be lost (at M = 5,000 in 1,000 rooms, B answered 9 in 10 self-pings
    // with a result).
    bGlobalOptions: { muc_room_cache_size: Math.max(100, rooms) },
    ...(variant === 'debian-mod_ping_muc' ? { aModules: ['track_muc_joins', 'ping_muc'] } : {}),
  });
  const env: Record<string, string> = {
    PING_MUC_API_URL: bed.apiUrl,
    PING_MUC_WEBHOOK_SECRET: bed.webhookSecret,
    PING_MUC_API_SECRET: bed.apiSecret,
    PING_MUC_DELAY_SECONDS: String(delaySeconds),
    PING_MUC_RECHECKS: '2',
    PING_MUC_RECHECK_BASE_SECONDS: '1',
    PING_MUC_API_TIMEOUT_MS: '8000',
    LOG_LEVEL: 'info',
  };
  let store: Child<{ endpoint: string }> | undefined;
  let service: Child<{ eventsUrl: string; pid: number }> | undefined;
  const users: User[] = [];
  try {
    // The store first (the service needs its endpoint), with the table the service's config names.
    store = forkChild<{ endpoint: string }>(new URL('./dynalite-server.ts', import.meta.url).pathname, {
      table: loadConfig(env).table,
    });
    const { endpoint } = await store.ready;
    const storePid = store.proc.pid;
    service = forkChild<{ eventsUrl: string; pid: number }>(new URL('./service-server.ts', import.meta.url).pathname, {
      env,
      dynamodbEndpoint: endpoint,
    });
    const { eventsUrl, pid: servicePid } = await service.ready;
    await bed.start(eventsUrl);
    // Ten logins at a time: one after the other, SASL and resource binding took most of the
    // set-up at M = 5,000 (100 clients).
    for (let c = 0; c < clients; c += 10) {
      const batch = Array.from({ length: Math.min(10, clients - c) }, (_, i) =>
        User.connect(bed.a, DOMAINS.a, `bench${c + i}`),
      );
      users.push(...(await Promise.all(batch)));
    }
    // Each client joins its rooms JOINS_IN_FLIGHT at a time; the clients in parallel. One at a
    // time, each join a round trip through A, s2s and B, the set-up took minutes at M = 2,000.
    const joins: Array<{ user: User; occupant: string }> = [];
    await Promise.all(
      users.map(async (u, c) => {
        const rooms: string[] = [];
        for (let r = 0; r < perClient && c * perClient + r < m; r++) rooms.push(roomOf(c, r, perClient));
        const nick = `u${c}`;
        for (let i = 0; i < rooms.length; i += JOINS_IN_FLIGHT)
          await Promise.all(
            rooms.slice(i, i + JOINS_IN_FLIGHT).map(async (room) => {
              await joinRoom(u, room, nick);
              joins.push({ user: u, occupant: `${room}/${nick}` });
            }),
          );
      }),
    );
    if (isPingMuc(variant)) {
      const deadline = Date.now() + 30_000 + m * 10;
      const client = localDynamoClient(endpoint);
      try {
        while ((await storedJoins(client, loadConfig(env).table, DOMAINS.a, DOMAINS.mucB)) < m) {
          if (Date.now() > deadline) throw new Error('e2e: the service did not receive every join');
          await sleep(500);
        }
      } finally {
        client.destroy();
      }
    } else {
      await sleep(500);
    }
    const setupMs = Date.now() - t0;
    log(`e2e ${variant}: ${m} joins by ${clients} clients; kill -9 of B`);
    const delayMs = isPingMuc(variant) ? delaySeconds * 1000 : 0;
    const profile = process.env.BENCH_E2E_SERVICE_PROFILE; // a .cpuprofile of the service from kill to last notification
    if (profile && isPingMuc(variant)) await service.ask({ op: 'profile-start' });
    const cpu0 = {
      a: cpuOf(bed.a.pid),
      service: cpuOf(servicePid),
      store: cpuOf(storePid),
      clients: process.cpuUsage(),
    };
    const killedAt = Date.now();
    await bed.b.kill();
    await bed.b.start();
    const bPid = bed.b.pid;
    // Wait for every join's notification (or give up after the delay + 60 s), then 3 s more for
    // duplicates to show.
    // Counted from what arrived since the last look: scanning every user's whole inbox once per
    // join (M × inbox) took long enough at M = 1,000 to hold the clients' event loop, and so to
    // stamp notifications late.
    const notified = new Set<string>();
    const scanned = new Map<User, number>();
    const notifiedCount = () => {
      for (const u of users) {
        const from = scanned.get(u) ?? 0;
        for (const r of u.received.slice(from)) if (isNotification(r.el)) notified.add(`${u.jid} ${r.el.attrs.from}`);
        scanned.set(u, u.received.length);
      }
      return joins.filter((j) => notified.has(`${j.user.jid} ${j.occupant}`)).length;
    };
    const deadline = killedAt + delayMs + 60_000 + m * 10;
    while (notifiedCount() < m && Date.now() < deadline) await sleep(50);
    const clientsCpu = process.cpuUsage(cpu0.clients);
    const cpuMs = {
      a: cpuOf(bed.a.pid) - cpu0.a,
      b: cpuOf(bPid),
      service: cpuOf(servicePid) - cpu0.service,
      store: cpuOf(storePid) - cpu0.store,
      clients: Math.round((clientsCpu.user + clientsCpu.system) / 1000),
    };
    if (profile && isPingMuc(variant)) await service.ask({ op: 'profile-stop', file: profile });
    await sleep(3000);
    const latencies: number[] = [];
    let notifications = 0;
    let leakedReplies = 0;
    const seen = new Set<string>();
    // When each (user, occupant) was told, in order of arrival.
    const toldAt = new Map<string, number[]>();
    for (const u of users) {
      for (const r of u.received) {
        if (isPingReply(r.el)) leakedReplies++;
        if (!isNotification(r.el)) continue;
        notifications++;
        const k = `${u.jid} ${r.el.attrs.from}`;
        seen.add(k);
        toldAt.set(k, [...(toldAt.get(k) ?? []), r.at]);
      }
    }
    const perJoin = joins.map((j) => toldAt.get(`${j.user.jid} ${j.occupant}`) ?? []);
    for (const t of perJoin) if (t[0] !== undefined) latencies.push(t[0] - killedAt - delayMs);
    latencies.sort((a, b) => a - b);
    const aLog = bed.a.log();
    const logged = pingsInLog(aLog);
    let extra: Partial<E2eResult> = {};
    if (isPingMuc(variant)) {
      const { lines } = await service.ask<{ lines: string[] }>({ op: 'log' });
      const at = (message: string) => {
        for (const line of lines) {
          try {
            const l = JSON.parse(line) as { message?: string; timestamp?: string };
            if (l.message === message && l.timestamp) return Date.parse(l.timestamp) - killedAt;
          } catch {
            /* not JSON */
          }
        }
        return undefined;
      };
      extra = {
        apiPings: aLog.split('\n').filter((l) => /ping_muc_cloud\s+debug\s+Self-ping /.test(l)).length,
        roundStartMs: at('round started'),
        roundDoneMs: at('round done'),
      };
    }
    if (process.env.BENCH_E2E_KEEP_LOG) {
      const { writeFileSync } = await import('node:fs');
      const prefix = `${process.env.BENCH_E2E_KEEP_LOG}-${variant}-${m}`;
      writeFileSync(`${prefix}.log`, aLog);
      if (isPingMuc(variant))
        writeFileSync(
          `${prefix}-service.log`,
          (await service.ask<{ lines: string[] }>({ op: 'log' })).lines.join('\n'),
        );
    }
    const result: E2eResult = {
      variant,
      m,
      clients,
      delayMs,
      notifiedJoins: latencies.length,
      p50Ms: latencies[Math.floor(latencies.length / 2)] ?? NaN,
      maxMs: latencies[latencies.length - 1] ?? NaN,
      spreadMs: {
        first: latencies[0] ?? NaN,
        p10: latencies[Math.floor(latencies.length / 10)] ?? NaN,
        p90: latencies[Math.floor((latencies.length * 9) / 10)] ?? NaN,
      },
      notifications,
      duplicateNotifications: notifications - seen.size,
      told: toldCounts(perJoin),
      leakedReplies,
      pings: logged.total,
      duplicatePings: logged.total - logged.distinct,
      ...extra,
      cpuMs,
      setupMs,
    };
    log(
      `e2e ${variant}: ${result.notifiedJoins}/${m} notified, first ${result.spreadMs?.first} / p10 ${result.spreadMs?.p10} / p50 ${result.p50Ms} / p90 ${result.spreadMs?.p90} / max ${result.maxMs} ms after kill + delay; ${result.pings} pings, ${result.notifications} notifications; told once/twice/more/never ${result.told.once}/${result.told.twice}/${result.told.more}/${result.told.never}; ${leakedReplies} replies leaked to clients; set-up ${Math.round(setupMs / 1000)} s`,
    );
    return result;
  } finally {
    await bed.stop();
    await Promise.all(users.map((u) => u.stop()));
    // The service before its store: it may still be writing when told to stop.
    await service?.stop();
    await store?.stop();
  }
}

// Part 4, end to end on the real testbed (test/e2e: Prosody A with the users, B with the MUC,
// real s2s on loopback, xmpp.js clients), reused as is. A few clients hold M joins in total in
// rooms on B; B is killed with SIGKILL and started again at once (a crash and a restart), and we
// measure, per join, the time from the kill to the client's notification, minus the configured
// delay. The same scenario runs with ping-muc (mod_ping_muc_cloud + the local service) and with
// Debian's mod_ping_muc + mod_track_muc_joins (loaded from the prosody-modules package).
import { Stack } from '../test/e2e/stack';
import { DOMAINS } from '../test/e2e/testbed';
import { isNotification, type User } from '../test/e2e/users';

export type Variant = 'ping-muc' | 'debian-mod_ping_muc';

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
  notifications: number;
  duplicateNotifications: number;
  pings: number;
  duplicatePings: number;
  /** Where the pings were counted. */
  pingsCountedBy: string;
  /** ping-muc only: self-pings and notifications as its stanza API calls (ApiRecorder). */
  apiPings?: number;
  apiNotifications?: number;
  /** ping-muc only: when the round started and ended, ms after the kill (from the service log). */
  roundStartMs?: number;
  roundDoneMs?: number;
  /** ping-muc only: first and last answered self-ping, ms after the kill (ApiRecorder). */
  firstPingMs?: number;
  lastPingMs?: number;
  setupMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    if ((type === 'result' || type === 'error') && from.includes(`@${DOMAINS.mucB}/`) && to.includes(`@${DOMAINS.a}/`)) pairs.push(`${to} ${from}`);
  }
  return { total: pairs.length, distinct: new Set(pairs).size };
}

export async function e2eScenario(variant: Variant, m: number, log: (s: string) => void, delaySeconds = 2): Promise<E2eResult> {
  const t0 = Date.now();
  const perClient = m <= 100 ? 10 : 50;
  const clients = Math.ceil(m / perClient);
  const stack = await Stack.start({
    delaySeconds,
    rechecks: 2,
    recheckBaseSeconds: 1,
    ...(variant === 'debian-mod_ping_muc' ? { aModules: ['track_muc_joins', 'ping_muc'] } : {}),
    logLevel: 'debug',
  });
  try {
    const users: User[] = [];
    for (let c = 0; c < clients; c++) users.push(await stack.user(`bench${c}`));
    // Each client joins its rooms one after the other; the clients in parallel.
    const joins: Array<{ user: User; occupant: string }> = [];
    await Promise.all(
      users.map(async (u, c) => {
        for (let r = 0; r < perClient && c * perClient + r < m; r++) {
          const room = `bench${r}@${DOMAINS.mucB}`;
          const nick = `u${c}`;
          await u.join(room, nick);
          joins.push({ user: u, occupant: `${room}/${nick}` });
        }
      }),
    );
    if (variant === 'ping-muc') await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === m, 30_000);
    else await sleep(500);
    const setupMs = Date.now() - t0;
    log(`e2e ${variant}: ${m} joins by ${clients} clients; kill -9 of B`);
    const delayMs = variant === 'ping-muc' ? stack.delayMs : 0;
    const killedAt = Date.now();
    await stack.bed.b.kill();
    await stack.bed.b.start();
    // Wait for every join's notification (or give up after the delay + 60 s), then 3 s more
    // for duplicates to show.
    const deadline = killedAt + delayMs + 60_000;
    const notifiedCount = () => joins.filter((j) => j.user.notifications().some((n) => n.el.attrs.from === j.occupant)).length;
    while (notifiedCount() < m && Date.now() < deadline) await sleep(100);
    await sleep(3000);
    const latencies: number[] = [];
    let notifications = 0;
    for (const u of users) notifications += u.notifications().length;
    const seen = new Set<string>();
    for (const j of joins) {
      const first = j.user.notifications().find((n) => n.el.attrs.from === j.occupant);
      if (first) latencies.push(first.at - killedAt - delayMs);
    }
    for (const u of users) for (const n of u.notifications()) seen.add(`${u.jid} ${n.el.attrs.from}`);
    latencies.sort((a, b) => a - b);
    const aLog = stack.bed.a.log();
    const logged = pingsInLog(aLog);
    const pingTimes = () => {
      const at = stack.api.pings().map((p) => p.at - killedAt);
      return at.length ? { firstPingMs: Math.min(...at), lastPingMs: Math.max(...at) } : {};
    };
    const roundAt = (message: string) => {
      for (const line of stack.serviceLog) {
        try {
          const l = JSON.parse(line) as { message?: string; time?: string };
          if (l.message === message && l.time) return Date.parse(l.time) - killedAt;
        } catch {
          /* not JSON */
        }
      }
      return undefined;
    };
    const result: E2eResult = {
      variant,
      m,
      clients,
      delayMs,
      notifiedJoins: latencies.length,
      p50Ms: latencies[Math.floor(latencies.length / 2)] ?? NaN,
      maxMs: latencies[latencies.length - 1] ?? NaN,
      notifications,
      duplicateNotifications: notifications - seen.size,
      pings: logged.total,
      duplicatePings: logged.total - logged.distinct,
      pingsCountedBy: "answers in A's debug log",
      ...(variant === 'ping-muc'
        ? { apiPings: stack.api.pings().length, apiNotifications: stack.api.notifies().length, roundStartMs: roundAt('round started'), roundDoneMs: roundAt('round done'), ...pingTimes() }
        : {}),
      setupMs,
    };
    if (process.env.BENCH_E2E_KEEP_LOG) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${process.env.BENCH_E2E_KEEP_LOG}-${variant}.log`, aLog);
    }
    log(`e2e ${variant}: ${result.notifiedJoins}/${m} notified, p50 ${result.p50Ms} ms, max ${result.maxMs} ms after kill + delay; ${result.pings} pings, ${result.notifications} notifications`);
    return result;
  } finally {
    await stack.stop();
  }
}

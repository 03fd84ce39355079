// One pass of a round: every join of (host, remote) is self-pinged and acted on, C at a time.
import { joinedAt, type Join, type Round } from '../domain/model';
import { classify, type Outcome } from '../domain/outcome';
import { scheduleTag } from '../domain/schedule';
import { unavailable } from '../domain/stanzas';
import { backoffMs } from '../support/backoff';
import type { Config } from '../support/config';
import { retrying, type RetryPolicy } from '../support/retry';
import type { RoundDeps } from './deps';

/** The invocation that goes on with a round: `tag` names its schedule, `pass` the pass it is for. */
export interface FollowUp {
  tag: string;
  at: number;
  pass?: number;
}

/** What an invocation achieved, even when it fails: progress resets the retry count. */
export interface Progress {
  /** A checkpoint or the end of a pass was saved. */
  advanced: boolean;
  /** The pass the invocation ran. */
  pass?: number;
}

/**
 * A transient failure of one call is retried in place rather than failing the invocation.
 * Store calls are cheap and their conditional writes safe to repeat; a stanza API call is
 * retried once (its client retries transport failures itself), and the deadline margin counts it.
 */
const STORE_RETRY: RetryPolicy = { tries: 3, baseMs: 100, maxMs: 1_000 };
const API_RETRY: RetryPolicy = { tries: 2, baseMs: 500, maxMs: 500 };

/** Pages fed are finished whole, so they must be small enough to fit after the deadline check. */
export function pageSize(config: Config): number {
  return Math.max(1, Math.min(config.pageSize, config.concurrency * 4));
}

/**
 * Time to finish what is fed when the deadline is checked: the rest of one page and a new one,
 * each join costing up to two API calls (a self-ping and a notification).
 */
export function deadlineMarginMs(config: Config): number {
  return 2 * 2 * API_RETRY.tries * Math.ceil(pageSize(config) / config.concurrency) * config.apiTimeoutMs + 10_000;
}

interface PageProgress {
  /** Cursor after this page. */
  next?: string;
  /** Joins of the page not yet checked. */
  left: number;
}

/**
 * Checks every join of the pass, `concurrency` at a time across page boundaries (no barrier per
 * page). A page's cursor is saved once it and every page before it are done, so a follow-up
 * invocation neither repeats nor skips a join. Pages already fed are always finished, so the
 * deadline is checked before feeding a new one.
 */
export async function runPass(deps: RoundDeps, round: Round, remainingMs: () => number, progress: Progress = { advanced: false }): Promise<FollowUp | undefined> {
  const { joins, rounds, config, clock } = deps;
  const store = <T>(fn: () => Promise<T>) => retrying(clock, fn, STORE_RETRY);
  const startSeq = await store(() => joins.hostStartSeq(round.host));
  const limit = pageSize(config);
  const pages: PageProgress[] = [];
  const queue: Array<{ join: Join; page: PageProgress }> = [];
  let cursor = round.cursor;
  let more = true;
  let stopped = false;
  let failure: unknown;
  let fetching: Promise<void> | undefined;
  let saving = Promise.resolve();

  const checkpoint = () => {
    while (pages[0] && pages[0].left === 0) {
      const { next } = pages.shift() as PageProgress;
      // The last page is recorded by endPass: an undefined cursor means "start of the pass".
      if (next === undefined) break;
      round.cursor = next;
      const snapshot = { ...round };
      saving = saving
        .then(() => store(() => rounds.saveRound(snapshot)))
        .then(() => void (progress.advanced = true))
        .catch((err) => void (failure ??= err));
    }
  };
  let fed = 0;
  const feed = async () => {
    // At least one page per invocation, so that every invocation makes progress.
    if (fed > 0 && remainingMs() < deadlineMarginMs(config)) {
      stopped = true;
      return;
    }
    const { items, next } = await store(() => joins.joinsOf(round.host, round.remote, limit, cursor));
    cursor = next;
    more = next !== undefined;
    const page: PageProgress = { next, left: items.length };
    fed++;
    pages.push(page);
    for (const join of items) queue.push({ join, page });
    checkpoint();
  };
  const worker = async () => {
    while (failure === undefined) {
      if (queue.length < config.concurrency && !fetching && more && !stopped) {
        fetching = feed()
          .catch((err) => void (failure ??= err))
          .finally(() => (fetching = undefined));
      }
      const item = queue.shift();
      if (!item) {
        if (!fetching) return;
        await fetching;
        continue;
      }
      try {
        if (await selfPingAndAct(deps, round, item.join, startSeq)) round.marked = (round.marked ?? 0) + 1;
      } catch (err) {
        // The page stays unfinished, so no checkpoint passes the join that failed.
        failure ??= err;
        continue;
      }
      item.page.left--;
      checkpoint();
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, worker));
  await saving;
  if (failure !== undefined) throw failure;
  if (more) {
    // Checkpoint: a follow-up invocation continues from the saved cursor.
    deps.log.info('round checkpoint', { host: round.host, remote: round.remote, gen: round.gen, pass: round.pass });
    return { tag: scheduleTag.checkpoint(round.pass, round.cursor), at: clock.now(), pass: round.pass };
  }
  const next = await endPass(deps, round);
  progress.advanced = true;
  return next;
}

async function endPass(deps: RoundDeps, round: Round): Promise<FollowUp | undefined> {
  const { config } = deps;
  if ((round.marked ?? 0) > 0 && round.pass < config.rechecks) {
    const wait = backoffMs(round.pass, config.recheckBaseMs);
    const at = deps.clock.now() + wait;
    // The pass and its time are persisted: any other invocation before `at` only reschedules.
    const next: Round = { ...round, pass: round.pass + 1, cursor: undefined, marked: 0, notBefore: at, state: 'waiting' };
    await retrying(deps.clock, () => deps.rounds.saveRound(next), STORE_RETRY);
    deps.log.info('round re-check scheduled', { host: round.host, remote: round.remote, gen: round.gen, pass: next.pass, marked: round.marked, waitMs: wait });
    return { tag: scheduleTag.recheck(next.pass), at, pass: next.pass };
  }
  const { notBefore: _n, ...done } = round;
  await retrying(deps.clock, () => deps.rounds.saveRound({ ...done, cursor: undefined, state: 'done' }), STORE_RETRY);
  deps.log.info('round done', { host: round.host, remote: round.remote, gen: round.gen, passes: round.pass + 1 });
  return undefined;
}

/** Marks name the pass that must re-check a join, so a join found joined meanwhile is left alone. */
function recheckMark(gen: string, pass: number): string {
  return `${gen}.${pass}`;
}

/**
 * Self-pings one join and acts on the outcome. Returns true if the join is marked for the next
 * pass: marked now, or by this pass in an earlier invocation (the store's mark decides, so a
 * retried invocation counts it again rather than ending the round with the join still marked).
 */
async function selfPingAndAct(deps: RoundDeps, round: Round, join: Join, startSeq: number): Promise<boolean> {
  const { joins, api, config, metrics, clock, log } = deps;
  const store = <T>(fn: () => Promise<T>) => retrying(clock, fn, STORE_RETRY);
  // Joined after the close: the link was up again when it joined.
  if (joinedAt(join) > round.cutoffSeq) return false;
  // Written before the host restarted: the session is gone (host-start drops joins lazily here).
  if (join.seq < startSeq) {
    await store(() => joins.deleteJoinIf(join));
    return false;
  }
  const nextMark = recheckMark(round.gen, round.pass + 1);
  if (join.recheck === nextMark) return true;
  if (round.pass > 0 && join.recheck !== recheckMark(round.gen, round.pass)) return false;
  const reply = await retrying(clock, () => api.selfPing(join.user, `${join.room}/${join.nick}`), API_RETRY);
  if (reply.kind === 'bad-answer') {
    // Our failure for this one join, never a fact about the room: re-check it, never notify.
    metrics.count('Pings', 'Outcome', 'failed');
    const marked = round.pass < config.rechecks && (await store(() => joins.markRecheck(join, nextMark)));
    log.warn(marked ? 'self-ping answer unusable, re-check scheduled' : 'self-ping answer unusable, join kept unchecked', { user: join.user, room: join.room, reason: reply.reason });
    return marked;
  }
  let outcome: Outcome = classify(reply, { host: join.host, room: join.room });
  metrics.count('Pings', 'Outcome', outcome);
  if (outcome === 'indeterminate' && round.pass < config.rechecks) {
    return store(() => joins.markRecheck(join, nextMark));
  }
  if (outcome === 'indeterminate') outcome = 'not-joined'; // re-check budget spent: as mod_ping_muc does
  if (outcome === 'gone') await store(() => joins.deleteJoinIf(join));
  if (outcome === 'not-joined') await notifyUnjoined(deps, round, join);
  return false;
}

/**
 * If the join changed meanwhile (a rejoin), the user must not be told it left. The join is
 * deleted only after delivery, so a crash in between leaves it for the retry to ping again.
 */
async function notifyUnjoined(deps: RoundDeps, round: Round, join: Join): Promise<void> {
  const { joins, api, config, metrics, clock } = deps;
  const store = <T>(fn: () => Promise<T>) => retrying(clock, fn, STORE_RETRY);
  if (!(await store(() => joins.markNotifying(join, round.gen)))) return;
  const presence = unavailable(`${join.room}/${join.nick}`, join.user, config.reason);
  const delivered = await retrying(clock, () => api.notify(presence), API_RETRY);
  metrics.count('Notifications', 'Result', delivered ? 'sent' : 'no-session');
  await store(() => joins.deleteJoinIf(join));
}

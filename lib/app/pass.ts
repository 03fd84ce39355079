// One pass of a round: every join of (host, remote) is self-pinged and acted on, C at a time.
import type { Join, Round } from '../domain/model';
import { classify, type Outcome } from '../domain/outcome';
import { scheduleTag } from '../domain/schedule';
import { unavailable } from '../domain/stanzas';
import { backoffMs } from '../support/backoff';
import type { Config } from '../support/config';
import type { RoundDeps } from './deps';

/** The invocation that goes on with a round: `tag` names its schedule. */
export interface FollowUp {
  tag: string;
  at: number;
}

/** Pages fed are finished whole, so they must be small enough to fit after the deadline check. */
export function pageSize(config: Config): number {
  return Math.max(1, Math.min(config.pageSize, config.concurrency * 4));
}

/**
 * Time to finish what is fed when the deadline is checked: the rest of one page and a new one,
 * each join costing up to two API calls (a self-ping and a notification).
 */
export function deadlineMarginMs(config: Config): number {
  return 2 * 2 * Math.ceil(pageSize(config) / config.concurrency) * config.apiTimeoutMs + 10_000;
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
export async function runPass(deps: RoundDeps, round: Round, remainingMs: () => number): Promise<FollowUp | undefined> {
  const { joins, rounds, config } = deps;
  const startSeq = await joins.hostStartSeq(round.host);
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
      saving = saving.then(() => rounds.saveRound(snapshot)).catch((err) => void (failure ??= err));
    }
  };
  let fed = 0;
  const feed = async () => {
    // At least one page per invocation, so that every invocation makes progress.
    if (fed > 0 && remainingMs() < deadlineMarginMs(config)) {
      stopped = true;
      return;
    }
    const { items, next } = await joins.joinsOf(round.host, round.remote, limit, cursor);
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
    return { tag: scheduleTag.checkpoint(round.pass, round.cursor), at: deps.clock.now() };
  }
  return endPass(deps, round);
}

async function endPass(deps: RoundDeps, round: Round): Promise<FollowUp | undefined> {
  const { config } = deps;
  if ((round.marked ?? 0) > 0 && round.pass < config.rechecks) {
    const wait = backoffMs(round.pass, config.recheckBaseMs);
    const next: Round = { ...round, pass: round.pass + 1, cursor: undefined, marked: 0, state: 'waiting' };
    await deps.rounds.saveRound(next);
    deps.log.info('round re-check scheduled', { host: round.host, remote: round.remote, gen: round.gen, pass: next.pass, marked: round.marked, waitMs: wait });
    return { tag: scheduleTag.recheck(next.pass), at: deps.clock.now() + wait };
  }
  await deps.rounds.saveRound({ ...round, cursor: undefined, state: 'done' });
  deps.log.info('round done', { host: round.host, remote: round.remote, gen: round.gen, passes: round.pass + 1 });
  return undefined;
}

/** Marks name the pass that must re-check a join, so a join found joined meanwhile is left alone. */
function recheckMark(gen: string, pass: number): string {
  return `${gen}.${pass}`;
}

/** Self-pings one join and acts on the outcome. Returns true if the join was marked for a re-check. */
async function selfPingAndAct(deps: RoundDeps, round: Round, join: Join, startSeq: number): Promise<boolean> {
  const { joins, api, config, metrics } = deps;
  // Joined after the close: the link was up again when it joined.
  if (join.seq > round.cutoffSeq) return false;
  if (join.seq < startSeq) {
    await joins.deleteJoinIf(join);
    return false;
  }
  if (round.pass > 0 && join.recheck !== recheckMark(round.gen, round.pass)) return false;
  const reply = await api.selfPing(join.user, `${join.room}/${join.nick}`);
  let outcome: Outcome = classify(reply, { host: join.host, room: join.room });
  metrics.count('Pings', 'Outcome', outcome);
  if (outcome === 'indeterminate' && round.pass < config.rechecks) {
    return joins.markRecheck(join, recheckMark(round.gen, round.pass + 1));
  }
  if (outcome === 'indeterminate') outcome = 'not-joined'; // re-check budget spent: as mod_ping_muc does
  if (outcome === 'gone') await joins.deleteJoinIf(join);
  if (outcome === 'not-joined') await notifyUnjoined(deps, round, join);
  return false;
}

/**
 * If the join changed meanwhile (a rejoin), the user must not be told it left. The join is
 * deleted only after delivery, so a crash in between leaves it for the retry to ping again.
 */
async function notifyUnjoined(deps: RoundDeps, round: Round, join: Join): Promise<void> {
  const { joins, api, config, metrics } = deps;
  if (!(await joins.markNotifying(join, round.gen))) return;
  const delivered = await api.notify(unavailable(`${join.room}/${join.nick}`, join.user, config.reason));
  metrics.count('Notifications', 'Result', delivered ? 'sent' : 'no-session');
  await joins.deleteJoinIf(join);
}

// One pass of a round: every join of (host, remote) is self-pinged and acted on, C at a time.
import { joinedAt, type Join, type Page, type Round } from '../domain/model';
import { CONFIRM_MS, classify, confirm, remoteUnreachable, type Outcome } from '../domain/outcome';
import type { JoinRef } from '../ports';
import type { Config } from '../support/config';
import { mayRetry } from '../support/errors';
import { retrying, type RetryPolicy } from '../support/retry';
import type { RoundDeps } from './deps';
import * as next from './next';

/** What an invocation achieved, even when it fails: progress resets the retry count. */
export interface Progress {
  /** A checkpoint or the end of a pass was saved. */
  advanced: boolean;
  /** The pass the round is at: the one the invocation ran, or the next once it ended. */
  pass?: number;
}

/**
 * A transient failure of one call is retried in place rather than failing the invocation.
 * Store calls are cheap and their conditional writes safe to repeat. A stanza API call is tried
 * once more only after a failure that did not wait out its timeout (the client's errors carry
 * `retry: false` then, lib/support/errors.ts), so the deadline margin counts one timeout per call.
 */
const STORE_RETRY: RetryPolicy = { tries: 3, baseMs: 100, maxMs: 1_000 };

/** One store call of a round, retried in place. */
export function storeCall<T>(deps: Pick<RoundDeps, 'clock'>, fn: () => Promise<T>): Promise<T> {
  return retrying(deps.clock, fn, STORE_RETRY);
}
const API_RETRY: RetryPolicy = {
  tries: 2,
  baseMs: 500,
  maxMs: 500,
  retryable: mayRetry,
};

/** Pages fed are finished whole, so they must be small enough to fit after the deadline check. */
export function pageSize(config: Config): number {
  return Math.max(1, Math.min(config.pageSize, config.concurrency * 4));
}

/**
 * Time to finish what is fed when the deadline is checked: the rest of one page and a new one,
 * or, when C exceeds a page, the C joins in flight and the C − 1 + page queued behind them (the
 * feed tops the queue up to C). Each worker takes its share one join after the other, and a
 * join costs up to three API calls (a self-ping, its one short re-check after CONFIRM_MS when
 * the answer is unconfirmed, and a notification).
 */
export function deadlineMarginMs(config: Config): number {
  const page = pageSize(config);
  const fed = Math.max(2 * page, 2 * config.concurrency + page);
  return Math.ceil(fed / config.concurrency) * (3 * config.apiTimeoutMs + CONFIRM_MS) + 10_000;
}

/**
 * What a new pass may read before its due time, so that its first self-pings go at the due
 * second: the first page of the window's last close's epoch, read after that close. Read early
 * by a second or two, it is as good as read at once as long as that close is still the window's
 * last when the round claims it: a join that leaves meanwhile is answered no-session, one made
 * meanwhile is after the close and skipped anyway. A later close moves the cutoff past joins the
 * page may not have (or names another epoch): then the pass reads again (runPass).
 */
export interface PassPrefetch {
  /** The window's last close when the reads started. */
  closeSeq: Promise<number | undefined>;
  firstPage: Promise<Page<Join> | undefined>;
}

/** Starts the reads ahead; a failure is no failure (the pass reads again). */
export function prefetchPass(
  deps: Pick<RoundDeps, 'joins' | 'rounds' | 'config'>,
  host: string,
  remote: string,
): PassPrefetch {
  const quiet = <T>(read: Promise<T>) => read.catch(() => undefined);
  const pending = quiet(deps.rounds.pendingClose(host, remote));
  return {
    closeSeq: pending.then((p) => p?.lastCloseSeq),
    // After the close is read: the page then has every join applied before that close.
    firstPage: pending.then((p) =>
      p === undefined ? undefined : quiet(deps.joins.joinsOf(host, p.epoch, remote, pageSize(deps.config))),
    ),
  };
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
export async function runPass(
  deps: RoundDeps,
  round: Round,
  remainingMs: () => number,
  progress: Progress = { advanced: false },
  prefetch?: PassPrefetch,
): Promise<next.Step[]> {
  // Read ahead for a new round's first pass only (a continuation starts at its cursor), and only
  // for the close the round claimed.
  const ahead =
    round.pass === 0 && round.cursor === undefined && prefetch && (await prefetch.closeSeq) === round.cutoffSeq
      ? prefetch
      : undefined;
  const pass = new PassFeed(deps, round, remainingMs, progress, ahead?.firstPage);
  const worker = async () => {
    for (let item = await pass.take(); item; item = await pass.take()) {
      try {
        if (await selfPingAndAct(deps, round, item.join)) round.marked = (round.marked ?? 0) + 1;
      } catch (err) {
        // The page stays unfinished, so no checkpoint passes the join that failed.
        pass.fail(err);
        continue;
      }
      pass.done(item);
    }
  };
  await Promise.all(Array.from({ length: deps.config.concurrency }, worker));
  if (!(await pass.finished())) {
    // Checkpoint: a follow-up invocation continues from the saved cursor.
    deps.log.info('round checkpoint', { host: round.host, remote: round.remote, gen: round.gen, pass: round.pass });
    return [next.checkpoint(round, deps.clock.now())];
  }
  const steps = await endPass(deps, round, progress);
  progress.advanced = true;
  return steps;
}

interface Item {
  join: Join;
  page: PageProgress;
}

/** The joins of a pass as a queue fed page by page, and the checkpoints of the pages done. */
class PassFeed {
  private readonly pages: PageProgress[] = [];
  private readonly queue: Item[] = [];
  private cursor: string | undefined;
  private more = true;
  private stopped = false;
  private fed = 0;
  private failure: unknown;
  private fetching: Promise<void> | undefined;
  private saving = Promise.resolve();

  constructor(
    private readonly deps: RoundDeps,
    private readonly round: Round,
    private readonly remainingMs: () => number,
    private readonly progress: Progress,
    private readonly firstPage?: Promise<Page<Join> | undefined>,
  ) {
    this.cursor = round.cursor;
  }

  /** The next join to check, feeding a page when the queue runs low; undefined when there is none or after a failure. */
  async take(): Promise<Item | undefined> {
    while (this.failure === undefined) {
      if (this.queue.length < this.deps.config.concurrency && !this.fetching && this.more && !this.stopped) {
        this.fetching = this.feed()
          .catch((err) => this.fail(err))
          .finally(() => (this.fetching = undefined));
      }
      const item = this.queue.shift();
      if (item) return item;
      if (!this.fetching) return undefined;
      await this.fetching;
    }
    return undefined;
  }

  done(item: Item): void {
    item.page.left--;
    this.checkpoint();
  }

  fail(err: unknown): void {
    this.failure ??= err;
  }

  /** After the workers: throws the first failure; false when pages are left for a follow-up. */
  async finished(): Promise<boolean> {
    await this.saving;
    if (this.failure !== undefined) throw this.failure;
    return !this.more;
  }

  private async feed(): Promise<void> {
    const { joins, config } = this.deps;
    // At least one page per invocation, so that every invocation makes progress.
    if (this.fed > 0 && this.remainingMs() < deadlineMarginMs(config)) {
      this.stopped = true;
      return;
    }
    const { host, remote, epoch = 0 } = this.round;
    const ahead = this.fed === 0 && this.cursor === undefined ? await this.firstPage : undefined;
    const { items, next } =
      ahead ?? (await storeCall(this.deps, () => joins.joinsOf(host, epoch, remote, pageSize(config), this.cursor)));
    this.cursor = next;
    this.more = next !== undefined;
    const page: PageProgress = { next, left: items.length };
    this.fed++;
    this.pages.push(page);
    for (const join of items) this.queue.push({ join, page });
    this.checkpoint();
  }

  private checkpoint(): void {
    const { rounds } = this.deps;
    while (this.pages[0] && this.pages[0].left === 0) {
      const { next } = this.pages.shift() as PageProgress;
      // The last page is recorded by endPass: an undefined cursor means "start of the pass".
      if (next === undefined) break;
      this.round.cursor = next;
      const snapshot = { ...this.round };
      this.saving = this.saving
        .then(() => storeCall(this.deps, () => rounds.saveRound(snapshot)))
        .then(() => void (this.progress.advanced = true))
        .catch((err) => this.fail(err));
    }
  }
}

async function endPass(deps: RoundDeps, round: Round, progress: Progress): Promise<next.Step[]> {
  const ended = next.afterPass(deps.config, round, deps.clock.now());
  await storeCall(deps, () => deps.rounds.saveRound(ended.round));
  // A retry after a failure from here on goes on with the round's next pass, not this one.
  progress.pass = ended.round.pass;
  const ids = { host: round.host, remote: round.remote, gen: round.gen };
  if (ended.round.state === 'done') {
    deps.metrics.count('Rounds', 'State', 'done');
    deps.log.info('round done', { ...ids, passes: round.pass + 1 });
  } else {
    deps.log.info('round re-check scheduled', {
      ...ids,
      pass: ended.round.pass,
      marked: round.marked,
      waitMs: (ended.round.notBefore as number) - deps.clock.now(),
    });
  }
  return ended.steps;
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
async function selfPingAndAct(deps: RoundDeps, round: Round, join: Join): Promise<boolean> {
  const { joins, api, config, metrics, clock, log } = deps;
  // Joined after the close: the link was up again when it joined.
  if (joinedAt(join) > round.cutoffSeq) return false;
  const nextMark = recheckMark(round.gen, round.pass + 1);
  if (join.recheck === nextMark) return true;
  if (round.pass > 0 && join.recheck !== recheckMark(round.gen, round.pass)) return false;
  const ref = joinRef(join);
  // A heal: the server tells a ghost as its reply comes in, if the session is still in this join.
  const reply = await retrying(clock, () => api.heal(ref), API_RETRY);
  if (reply.kind === 'bad-answer') {
    // Our failure for this one join, never a fact about the room: re-check it, never notify.
    metrics.count('Pings', 'Outcome', 'failed');
    const marked = round.pass < config.rechecks && (await storeCall(deps, () => joins.markRecheck(join, nextMark)));
    log.warn(
      marked ? 'self-ping answer unusable, re-check scheduled' : 'self-ping answer unusable, join kept unchecked',
      { user: join.user, room: join.room, reason: reply.reason },
    );
    return marked;
  }
  const ctx = { host: join.host, room: join.room };
  let outcome: Outcome = classify(reply, ctx);
  if (outcome === 'unconfirmed') {
    // item-not-found of unknown origin on the module's tracked nick (ejabberd's answer for a
    // lost room and for a nick change alike): one short re-check of the same join decides
    // (outcome.ts, confirm). A nick change has reached the module by then, which answers it
    // no-session, as it would a notification for that join.
    metrics.count('Pings', 'Outcome', outcome);
    await clock.sleep(CONFIRM_MS);
    const again = await retrying(clock, () => api.heal(ref), API_RETRY);
    if (again.kind === 'bad-answer') {
      metrics.count('Pings', 'Outcome', 'failed');
      outcome = 'indeterminate';
    } else {
      if (again.kind === 'notified') {
        metrics.count('Pings', 'Outcome', 'not-joined');
        metrics.count('Notifications', 'Result', 'sent');
        return false;
      }
      outcome = confirm(outcome, classify(again, ctx));
    }
  }
  // One join behind the unreachable remote is enough to see it come back (./probe.ts).
  if (outcome === 'indeterminate' && !round.probe && remoteUnreachable(reply, ctx)) {
    round.probe = ref;
  }
  metrics.count('Pings', 'Outcome', outcome);
  if (reply.kind === 'notified') {
    // The server told the user and forgot the join; the store's copy stays (see below).
    metrics.count('Notifications', 'Result', 'sent');
    return false;
  }
  if (outcome === 'indeterminate' && round.pass < config.rechecks) {
    return storeCall(deps, () => joins.markRecheck(join, nextMark));
  }
  if (outcome === 'indeterminate') outcome = 'not-joined'; // re-check budget spent: as mod_ping_muc does
  if (outcome === 'gone') await storeCall(deps, () => joins.deleteJoinIf(join));
  if (outcome === 'not-joined') await notifyUnjoined(deps, ref);
  return false;
}

/** The join as the stanza API names it: the server acts only on the session's join of that identity. */
export const joinRef = (join: Join): JoinRef => ({
  user: join.user,
  occupant: `${join.room}/${join.nick}`,
  since: joinedAt(join),
});

/**
 * The round's own notification, once an unconfirmed join is confirmed by its short re-check, or
 * the re-check budget is spent on indeterminate answers (a heal notifies only on a "not joined"
 * reply). It carries the join's identity: the server
 * delivers it only if the session is still in that very join, so a user who rejoined meanwhile,
 * under the same nick too, is not told it left, whether or not the store has heard of the rejoin.
 *
 * The round writes nothing after the notification, and the server's module posts no `leave`
 * for it: it forgets the join as it delivers (prosody/mod_ping_muc_cloud/joins.lib.lua). The
 * store's copy of a told ghost's join stays until its client rejoins (status 333 asks it to at
 * once, and the rejoin's `join` overwrites it), its session ends, or it expires; a later round
 * that pings it first is answered no-session and deletes it then (outcome `gone`). A leave or a
 * delete per ghost would cost a write (and the leave an event through the server and the
 * events function) in the very seconds the next ghosts are being told, to remove a join that a
 * rejoin mostly overwrites anyway. Nobody is told twice: the module, which forgot the join,
 * answers a retry's self-ping or notification with no-session.
 */
async function notifyUnjoined(deps: RoundDeps, ref: JoinRef): Promise<void> {
  const result = await retrying(deps.clock, () => deps.api.notify(ref), API_RETRY);
  deps.metrics.count('Notifications', 'Result', result);
}

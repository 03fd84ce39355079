// One pass of a round: every join of (host, remote) is self-pinged and acted on, C at a time.
import { joinedAt, type Join, type Page, type Round } from '../domain/model';
import { classify, remoteUnreachable, type Outcome } from '../domain/outcome';
import { scheduleTag } from '../domain/schedule';
import { unavailable } from '../domain/stanzas';
import { backoffMs } from '../support/backoff';
import type { Config } from '../support/config';
import { retrying, type RetryPolicy } from '../support/retry';
import type { RoundDeps } from './deps';

/** An invocation that goes on with a round: `tag` names its schedule, `pass` the pass it is for. */
export interface FollowUp {
  tag: string;
  at: number;
  pass?: number;
  /** A probe of the waiting round's unreachable remote (./probe.ts). */
  probe?: true;
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
 * Store calls are cheap and their conditional writes safe to repeat. A stanza API call is tried
 * once more only after a failure that did not wait out its timeout (the client marks a timeout
 * `retry: false`), so the deadline margin still counts one timeout per call.
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
  retryable: (err) => (err as { retry?: unknown }).retry !== false,
};

/** Pages fed are finished whole, so they must be small enough to fit after the deadline check. */
export function pageSize(config: Config): number {
  return Math.max(1, Math.min(config.pageSize, config.concurrency * 4));
}

/**
 * Time to finish what is fed when the deadline is checked: the rest of one page and a new one,
 * or, when C exceeds a page, the C joins in flight and the C − 1 + page queued behind them (the
 * feed tops the queue up to C). Each worker takes its share one join after the other, and a
 * join costs up to two API calls (a self-ping and a notification).
 */
export function deadlineMarginMs(config: Config): number {
  const page = pageSize(config);
  const fed = Math.max(2 * page, 2 * config.concurrency + page);
  return 2 * Math.ceil(fed / config.concurrency) * config.apiTimeoutMs + 10_000;
}

/**
 * What a new pass may read before its due time, so that its first self-pings go at the due
 * second: the host's last start and the first page. Read early by a second or two, they are as
 * good as read at once: a join that leaves meanwhile is answered no-session, one made meanwhile
 * is after the close and skipped anyway.
 */
export interface PassPrefetch {
  startSeq: Promise<number | undefined>;
  firstPage: Promise<Page<Join> | undefined>;
}

/** Starts the reads ahead; a failure is no failure (the pass reads again). */
export function prefetchPass(deps: Pick<RoundDeps, 'joins' | 'config'>, host: string, remote: string): PassPrefetch {
  const quiet = <T>(read: Promise<T>) => read.catch(() => undefined);
  return {
    startSeq: quiet(deps.joins.hostStartSeq(host)),
    firstPage: quiet(deps.joins.joinsOf(host, remote, pageSize(deps.config))),
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
): Promise<FollowUp[]> {
  // Read ahead for a new round's first pass only (a continuation starts at its cursor).
  const ahead = round.pass === 0 && round.cursor === undefined ? prefetch : undefined;
  const startSeq = (await ahead?.startSeq) ?? (await storeCall(deps, () => deps.joins.hostStartSeq(round.host)));
  const pass = new PassFeed(deps, round, remainingMs, progress, ahead?.firstPage);
  const worker = async () => {
    for (let item = await pass.take(); item; item = await pass.take()) {
      try {
        if (await selfPingAndAct(deps, round, item.join, startSeq)) round.marked = (round.marked ?? 0) + 1;
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
    return [{ tag: scheduleTag.checkpoint(round.pass, round.cursor), at: deps.clock.now(), pass: round.pass }];
  }
  const next = await endPass(deps, round);
  progress.advanced = true;
  return next;
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
    const { host, remote } = this.round;
    const ahead = this.fed === 0 && this.cursor === undefined ? await this.firstPage : undefined;
    const { items, next } =
      ahead ?? (await storeCall(this.deps, () => joins.joinsOf(host, remote, pageSize(config), this.cursor)));
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

async function endPass(deps: RoundDeps, round: Round): Promise<FollowUp[]> {
  const { config } = deps;
  if ((round.marked ?? 0) > 0 && round.pass < config.rechecks) {
    const wait = backoffMs(round.pass, config.recheckBaseMs);
    const at = deps.clock.now() + wait;
    // The pass and its time are persisted: any other invocation before `at` only reschedules.
    const next: Round = {
      ...round,
      pass: round.pass + 1,
      cursor: undefined,
      marked: 0,
      notBefore: at,
      state: 'waiting',
    };
    await storeCall(deps, () => deps.rounds.saveRound(next));
    deps.log.info('round re-check scheduled', {
      host: round.host,
      remote: round.remote,
      gen: round.gen,
      pass: next.pass,
      marked: round.marked,
      waitMs: wait,
    });
    const follow: FollowUp[] = [{ tag: scheduleTag.recheck(next.pass), at, pass: next.pass }];
    // The remote was unreachable: look again soon, and re-check as soon as it is back.
    if (next.probe && config.probeMs > 0 && wait > 2 * config.probeMs) {
      const probeAt = deps.clock.now() + config.probeMs;
      follow.push({ tag: scheduleTag.probe(next.pass, probeAt), at: probeAt, pass: next.pass, probe: true });
    }
    return follow;
  }
  const { notBefore: _n, probe: _p, ...done } = round;
  await storeCall(deps, () => deps.rounds.saveRound({ ...done, cursor: undefined, state: 'done' }));
  deps.metrics.count('Rounds', 'State', 'done');
  deps.log.info('round done', { host: round.host, remote: round.remote, gen: round.gen, passes: round.pass + 1 });
  return [];
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
  // Joined after the close: the link was up again when it joined.
  if (joinedAt(join) > round.cutoffSeq) return false;
  // Written before the host restarted: the session is gone (host-start drops joins lazily here).
  if (join.seq < startSeq) {
    await storeCall(deps, () => joins.deleteJoinIf(join));
    return false;
  }
  const nextMark = recheckMark(round.gen, round.pass + 1);
  if (join.recheck === nextMark) return true;
  if (round.pass > 0 && join.recheck !== recheckMark(round.gen, round.pass)) return false;
  const occupant = `${join.room}/${join.nick}`;
  // A heal where the API has them: the server notifies a ghost as its reply comes in.
  const reply = await retrying(
    clock,
    () => (api.heal ? api.heal(join.user, occupant) : api.selfPing(join.user, occupant)),
    API_RETRY,
  );
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
  // One join behind the unreachable remote is enough to see it come back (./probe.ts).
  if (outcome === 'indeterminate' && !round.probe && remoteUnreachable(reply, ctx)) {
    round.probe = { user: join.user, occupant };
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
  if (outcome === 'not-joined') await notifyUnjoined(deps, join);
  return false;
}

/**
 * If the join changed since its page was read (a rejoin), the user must not be told it left: a
 * consistent read just before the notification, as cheap as a check can be (reads of a ping
 * batch's ghosts share one request).
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
async function notifyUnjoined(deps: RoundDeps, join: Join): Promise<void> {
  const { joins, api, config, metrics, clock } = deps;
  if (!(await storeCall(deps, () => joins.sameJoin(join)))) return;
  const presence = unavailable(`${join.room}/${join.nick}`, join.user, config.reason);
  const delivered = await retrying(clock, () => api.notify(presence), API_RETRY);
  metrics.count('Notifications', 'Result', delivered ? 'sent' : 'no-session');
}

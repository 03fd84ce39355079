// The self-ping round: one per (local host, remote domain, lost link).
import { randomUUID } from 'node:crypto';
import type { Config } from './config';
import type { Join, JoinStore, Round, RoundJob, Scheduler, StanzaApi } from './ports';
import type { Logger, Metrics } from './observability';
import { classify, type Outcome } from './domain/outcome';
import { unavailable } from './domain/stanzas';
import { scheduleName } from './domain/schedule';

export interface RoundDeps {
  store: JoinStore;
  api: StanzaApi;
  scheduler: Scheduler;
  config: Config;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * On AWS a failed round schedules its own retry with backoff: Lambda's two async retries are
   * too short for an XMPP server's outage. Locally the durable scheduler retries instead.
   */
  selfRetry?: boolean;
}

/** A woken-early round waits this long at most before re-scheduling itself instead. */
const MAX_EARLY_WAIT_MS = 5_000;
const CLAIM_ATTEMPTS = 5;
const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 15 * 60_000;

const clock = (deps: Pick<RoundDeps, 'now'>): number => (deps.now ?? Date.now)();

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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

/** Runs (part of) a round. Our own failures are retried, never read as an outcome. */
export async function runRound(deps: RoundDeps, job: RoundJob, remainingMs: () => number = () => Infinity): Promise<void> {
  try {
    const round = job.kind === 'start' ? await claim(deps, job) : await resume(deps, job);
    if (round) await leased(deps, round, remainingMs);
  } catch (err) {
    deps.metrics.count('RoundFailures', 'Kind', job.kind);
    const attempt = (job.attempt ?? 0) + 1;
    if (!deps.selfRetry || attempt > deps.config.retryAttempts) throw err;
    const wait = Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
    // If even this fails, the error goes to Lambda's retries and then the DLQ.
    const now = clock(deps);
    // Per minute: a duplicate invocation failing alike coalesces, a later failure gets its own.
    const tag = `retry${attempt}m${Math.floor(now / 60_000)}`;
    const created = await deps.scheduler.schedule(scheduleName(job, tag), now + wait, { ...job, attempt });
    deps.log.error(created ? 'round failed, retry scheduled' : 'round failed, retry already scheduled', { ...job, attempt, waitMs: wait, error: (err as Error).message });
  }
}

/** Lease for a round invocation without a deadline (the local service). */
const UNBOUNDED_LEASE_MS = 10 * 60_000;

/** The invocation that goes on with a round: `tag` names its schedule. */
interface FollowUp {
  tag: string;
  at: number;
}

/**
 * Runs a pass while holding the round's lease: an at-least-once duplicate of the invocation
 * finds it taken and comes back when the lease ends (in case the holder died). The follow-up
 * is scheduled only after the lease is released, so that it never finds the round busy.
 */
async function leased(deps: RoundDeps, round: Round, remainingMs: () => number): Promise<void> {
  const owner = randomUUID();
  const until = clock(deps) + Math.min(remainingMs(), UNBOUNDED_LEASE_MS);
  const heldUntil = await deps.store.leaseRound(round.host, round.remote, round.gen, owner, until);
  let next: FollowUp | undefined;
  if (heldUntil !== undefined) {
    deps.log.info('round busy elsewhere', { host: round.host, remote: round.remote, gen: round.gen, until: new Date(heldUntil).toISOString() });
    next = { tag: `lease${heldUntil}`, at: heldUntil + 1000 };
  } else {
    try {
      next = await runPass(deps, round, remainingMs);
    } finally {
      await deps.store.releaseRound(round.host, round.remote, round.gen, owner).catch(() => undefined);
    }
  }
  if (next) {
    const job: RoundJob = { host: round.host, remote: round.remote, gen: round.gen, kind: 'continue' };
    await deps.scheduler.schedule(scheduleName(job, next.tag), next.at, job);
  }
}

async function claim(deps: RoundDeps, job: RoundJob): Promise<Round | undefined> {
  const { store, config } = deps;
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const pending = await store.pendingClose(job.host, job.remote);
    if (!pending || pending.gen !== job.gen) {
      // Already claimed: a retried invocation resumes the round, a duplicate one finds it done.
      return resume(deps, { ...job, kind: 'continue' });
    }
    const due = pending.lastCloseAt + config.delayMs;
    const early = due - clock(deps);
    if (early > MAX_EARLY_WAIT_MS) {
      // A close arrived after this round was scheduled: never ping earlier than the delay after it.
      await deps.scheduler.schedule(scheduleName(job, `at${due}`), due, job);
      deps.log.info('round postponed', { ...job, due: new Date(due).toISOString() });
      return undefined;
    }
    if (early > 0) await (deps.sleep ?? defaultSleep)(early);
    const round: Round = { host: job.host, remote: job.remote, gen: job.gen, cutoffSeq: pending.lastCloseSeq, pass: 0, marked: 0, state: 'running' };
    if (await store.claimRound(round, pending.lastCloseAt)) {
      deps.log.info('round started', { host: round.host, remote: round.remote, gen: round.gen });
      return round;
    }
  }
  throw new Error(`could not claim round ${job.host}/${job.remote}/${job.gen}: closes keep arriving`);
}

async function resume(deps: RoundDeps, job: RoundJob): Promise<Round | undefined> {
  const round = await deps.store.getRound(job.host, job.remote, job.gen);
  if (!round || round.state === 'done') return undefined;
  return round.state === 'waiting' ? { ...round, state: 'running' } : round;
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
async function runPass(deps: RoundDeps, round: Round, remainingMs: () => number): Promise<FollowUp | undefined> {
  const { store, config } = deps;
  const startSeq = await store.hostStartSeq(round.host);
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
      saving = saving.then(() => store.saveRound(snapshot)).catch((err) => void (failure ??= err));
    }
  };
  let fed = 0;
  const feed = async () => {
    // At least one page per invocation, so that every invocation makes progress.
    if (fed > 0 && remainingMs() < deadlineMarginMs(config)) {
      stopped = true;
      return;
    }
    const { items, next } = await store.joinsOf(round.host, round.remote, limit, cursor);
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
        if (await check(deps, round, item.join, startSeq)) round.marked = (round.marked ?? 0) + 1;
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
    return { tag: `p${round.pass}c${round.cursor}`, at: clock(deps) };
  }
  return endPass(deps, round);
}

async function endPass(deps: RoundDeps, round: Round): Promise<FollowUp | undefined> {
  const { config } = deps;
  if ((round.marked ?? 0) > 0 && round.pass < config.rechecks) {
    const wait = config.recheckBaseMs * 2 ** round.pass;
    const next: Round = { ...round, pass: round.pass + 1, cursor: undefined, marked: 0, state: 'waiting' };
    await deps.store.saveRound(next);
    deps.log.info('round re-check scheduled', { host: round.host, remote: round.remote, gen: round.gen, pass: next.pass, marked: round.marked, waitMs: wait });
    return { tag: `p${next.pass}`, at: clock(deps) + wait };
  }
  await deps.store.saveRound({ ...round, cursor: undefined, state: 'done' });
  deps.log.info('round done', { host: round.host, remote: round.remote, gen: round.gen, passes: round.pass + 1 });
  return undefined;
}

/** Marks name the pass that must re-check a join, so a join found joined meanwhile is left alone. */
function recheckTag(gen: string, pass: number): string {
  return `${gen}.${pass}`;
}

/** Pings one join and acts on the outcome. Returns true if the join was marked for a re-check. */
async function check(deps: RoundDeps, round: Round, join: Join, startSeq: number): Promise<boolean> {
  const { store, api, config, metrics } = deps;
  // Joined after the close: the link was up again when it joined.
  if (join.seq > round.cutoffSeq) return false;
  if (join.seq < startSeq) {
    await store.deleteJoinIf(join);
    return false;
  }
  if (round.pass > 0 && join.recheck !== recheckTag(round.gen, round.pass)) return false;
  const reply = await api.selfPing(join.user, `${join.room}/${join.nick}`);
  let outcome: Outcome = classify(reply, { host: join.host, room: join.room });
  metrics.count('Pings', 'Outcome', outcome);
  if (outcome === 'indeterminate' && round.pass < config.rechecks) {
    return store.markRecheck(join, recheckTag(round.gen, round.pass + 1));
  }
  if (outcome === 'indeterminate') outcome = 'not-joined'; // re-check budget spent: as mod_ping_muc does
  if (outcome === 'gone') await store.deleteJoinIf(join);
  if (outcome === 'not-joined') await notify(deps, round, join);
  return false;
}

/**
 * If the join changed meanwhile (a rejoin), the user must not be told it left. The join is
 * deleted only after delivery, so a crash in between leaves it for the retry to ping again.
 */
async function notify(deps: RoundDeps, round: Round, join: Join): Promise<void> {
  const { store, api, config, metrics } = deps;
  if (!(await store.markNotifying(join, round.gen))) return;
  const delivered = await api.notify(unavailable(`${join.room}/${join.nick}`, join.user, config.reason));
  metrics.count('Notifications', 'Result', delivered ? 'sent' : 'no-session');
  await store.deleteJoinIf(join);
}


// The simulator's time: one discrete-event loop. Every wait of the code under test (clock.sleep,
// a stanza API call's latency, an event's post) is a timer here, so a round sleeping in its
// delay really lets the module's events, the scheduler's jobs and the reconciler run meanwhile,
// in one order fixed by the history. Nothing waits on real time.

/** The deterministic randomness of a history (jitter, latencies), never its faults. */
export { mulberry32 as rng } from '../support/rng';

interface Timer {
  at: number;
  n: number;
  fn: () => void;
}

/** A binary heap of timers, by time and then by the order they were set (FIFO at one time). */
class Timers {
  private h: Timer[] = [];
  get size(): number {
    return this.h.length;
  }
  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.n < b.n);
  }
  push(t: Timer): void {
    const h = this.h;
    h.push(t);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i] as Timer, h[p] as Timer)) break;
      [h[i], h[p]] = [h[p] as Timer, h[i] as Timer];
      i = p;
    }
  }
  peek(): Timer | undefined {
    return this.h[0];
  }
  pop(): Timer | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l] as Timer, h[m] as Timer)) m = l;
        if (r < h.length && this.less(h[r] as Timer, h[m] as Timer)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}

/** Lets every promise chain that can move without time move (microtasks only run before it). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Loop {
  private timers = new Timers();
  private n = 0;
  steps = 0;
  constructor(public now: number) {}

  /** Runs `fn` at `at` (never before now). */
  at(at: number, fn: () => void): void {
    this.timers.push({ at: Math.max(at, this.now), n: this.n++, fn });
  }

  sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => this.at(this.now + Math.max(0, Number.isFinite(ms) ? ms : 0), resolve));

  /** Time of the next timer, if any. */
  next(): number | undefined {
    return this.timers.peek()?.at;
  }

  /**
   * Runs timers in order up to `until` (inclusive), settling the promises after each;
   * `after` runs after every step (the invariants). Time ends at `until`.
   */
  async run(until: number, after?: () => void): Promise<void> {
    await settle();
    for (;;) {
      const t = this.timers.peek();
      if (!t || t.at > until) break;
      this.timers.pop();
      this.now = Math.max(this.now, t.at);
      this.steps++;
      t.fn();
      await settle();
      after?.();
    }
    this.now = Math.max(this.now, until);
  }
}

/** A promise that never settles: what every call of a killed invocation returns. */
export const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

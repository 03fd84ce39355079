// A value read from a source and kept for a TTL. A failed refresh keeps the last good value, is
// reported (logged and counted by the caller, docs/operations.md), and is tried again after at
// most 30 s rather than on every request: the source may be throttled or down.
export const STALE_RETRY_MS = 30_000;

export interface RefreshingOptions<T> {
  read: () => Promise<T>;
  ttlMs: number;
  now?: () => number;
  /** A refresh failed while a last good value exists: that value is served. */
  onStale?: (err: Error) => void;
}

export class Refreshing<T> {
  private held?: { value: T; at: number };
  private loading?: Promise<T>;
  private readonly now: () => number;

  constructor(private readonly options: RefreshingOptions<T>) {
    this.now = options.now ?? Date.now;
  }

  /** The value: read now if never read or expired; throws only when nothing was ever read. */
  get(): Promise<T> {
    const { held } = this;
    if (held && this.now() - held.at < this.options.ttlMs) return Promise.resolve(held.value);
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<T> {
    const { read, ttlMs, onStale } = this.options;
    try {
      const value = await read();
      this.held = { value, at: this.now() };
      return value;
    } catch (err) {
      const { held } = this;
      if (!held) throw err;
      onStale?.(err as Error);
      held.at = this.now() - ttlMs + Math.min(ttlMs, STALE_RETRY_MS);
      return held.value;
    }
  }
}

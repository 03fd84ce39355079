// ping-muc's own failures: one family, so that a wrapped error keeps what the caller decides on.
// `cause` is ES2022's; `retry` says whether trying the same call again at once may help (our own
// timeout: no, it already waited out the other side). Wrapping keeps both: a new error made with
// `{ cause }` takes the cause's `retry` unless it says otherwise, never a copy of its message alone.

export interface PingMucErrorOptions {
  cause?: unknown;
  /** Whether the same call may succeed if tried again at once; by default the cause's. */
  retry?: boolean;
}

/** The `retry` an error carries, if it carries one (ours or a foreign error with that field). */
export function retryOf(err: unknown): boolean | undefined {
  const retry = (err as { retry?: unknown } | null | undefined)?.retry;
  return typeof retry === 'boolean' ? retry : undefined;
}

/** Whether trying again at once may help: every error but one marked `retry: false`. */
export function mayRetry(err: unknown): boolean {
  return retryOf(err) !== false;
}

export class PingMucError extends Error {
  override name = 'PingMucError';
  readonly retry?: boolean;

  constructor(message: string, options: PingMucErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    const retry = options.retry ?? retryOf(options.cause);
    if (retry !== undefined) this.retry = retry;
  }
}

/** The stanza API failed (transport, status, an answer the call cannot use): never a fact about the room. */
export class StanzaApiError extends PingMucError {
  override name = 'StanzaApiError';
}

/** A request did not get through, or not whole; `retry` says whether trying again at once may help. */
export class TransportError extends PingMucError {
  override name = 'TransportError';
}

/** The store failed. */
export class StoreError extends PingMucError {
  override name = 'StoreError';
}

// The round's self-pings and notifications, gathered into batches (stanza API v2): the round
// keeps calling selfPing/notify one join at a time, C at once, and the calls made together go
// out as one signed request. One place for batching; the round's rules do not change with it.
import type { Element } from 'ltx';
import type { PingReply } from '../domain/model';
import type { StanzaApi } from '../ports';
import { StanzaApiError } from './stanza-api-http';

interface Waiting<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Calls made within `windowMs` of the first one of a batch (or until `maxItems` are waiting)
 * are sent together. A failure of the whole request fails each call of it, as v1 would.
 */
class Gatherer<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (items: I[]) => Promise<O[]>,
    private readonly maxItems: number,
    private readonly windowMs: number,
  ) {}

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= this.maxItems) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0, this.waiting.length);
    if (batch.length === 0) return;
    this.send(batch.map((w) => w.item)).then(
      (outs) => {
        if (outs.length !== batch.length) {
          const err = new StanzaApiError(`batch answered ${outs.length} items for ${batch.length}`);
          for (const w of batch) w.reject(err);
          return;
        }
        for (const [i, w] of batch.entries()) w.resolve(outs[i] as O);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
      },
    );
  }
}

export interface BatchingOptions {
  /** Items per request at most (the server's ping_muc_cloud_batch_max_items, 500 by default). */
  maxItems: number;
  /** How long the first call of a batch waits for others, ms (the round feeds C at once: a few ms). */
  windowMs?: number;
}

/** `api` with its v2 batch methods used for every call; without them, `api` itself. */
export function batchingStanzaApi(api: StanzaApi, options: BatchingOptions): StanzaApi {
  const { selfPingBatch, notifyBatch } = api;
  if (!selfPingBatch || !notifyBatch) return api;
  const windowMs = options.windowMs ?? 5;
  const pings = new Gatherer<{ user: string; occupant: string }, PingReply>(
    (items) => selfPingBatch.call(api, items),
    options.maxItems,
    windowMs,
  );
  const notes = new Gatherer<Element, 'sent' | 'no-session' | 'failed'>(
    (items) => notifyBatch.call(api, items),
    options.maxItems,
    windowMs,
  );
  return {
    selfPing: (user, occupant) => pings.call({ user, occupant }),
    async notify(presence) {
      const out = await notes.call(presence);
      // One notification the API could not deliver: our failure, retried like a v1 error.
      if (out === 'failed') throw new StanzaApiError('notification not delivered (batch item refused)');
      return out === 'sent';
    },
    selfPingBatch: (items) => selfPingBatch.call(api, items),
    notifyBatch: (items) => notifyBatch.call(api, items),
  };
}

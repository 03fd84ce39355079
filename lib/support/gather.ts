// Calls made one at a time by concurrent workers, sent together as one request: the round's
// stanza API calls (one batch). The callers keep their one-item contract; only the adapter
// knows that a batch went out.

interface Waiting<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/**
 * Calls made within `windowMs` of the first one of a batch (or until `maxItems` are waiting)
 * are sent together. `send` answers one output per item, in order; a failure of the whole
 * request fails each call of it, as one request per call would, and so does an answer with
 * another number of outputs (the error `mismatch` makes: the caller's kind of failure).
 */
export class Gatherer<I, O> {
  private waiting: Array<Waiting<I, O>> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (items: I[]) => Promise<O[]>,
    private readonly maxItems: number,
    private readonly windowMs: number,
    private readonly mismatch: (message: string) => Error = (message) => new Error(message),
  ) {
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`Gatherer: maxItems=${maxItems}`);
  }

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
    // Through a promise: a send that throws at once fails every call of the batch, not one.
    Promise.resolve(batch.map((w) => w.item))
      .then((items) => this.send(items))
      .then(
        (outs) => {
          if (outs.length !== batch.length) {
            const err = this.mismatch(`batch answered ${outs.length} items for ${batch.length}`);
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

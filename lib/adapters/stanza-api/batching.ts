// The StanzaApi port over a wire that sends items in batches (docs/stanza-api.md): the round
// calls heal/selfPing/notify one join at a time, C at once, and the calls made together go out
// as one signed request (../support/gather.ts); each call reads its own item of the answer.
import type { Element } from '@xmpp/xml';
import type { PingReply } from '../../domain/model';
import type { JoinRef, StanzaApi } from '../../ports';
import { Gatherer } from '../../support/gather';
import { StanzaApiError } from '../../support/errors';
import { GATHER_WINDOW_MS } from './options';
import { healReply, type ItemAnswer, notifyReply, pingReply, serverPingReply } from './answers';

/** One item of a request, as the caller names it; the wire builds its element. */
export type ApiItem =
  | { kind: 'heal' | 'self-ping' | 'notify'; join: JoinRef }
  | { kind: 'server-ping'; remote: string };

/** An item's answer, with the stanza the wire sent for it (the self-ping a reply must answer). */
export interface Exchanged {
  answer: ItemAnswer;
  stanza: Element;
}

/**
 * Sends items in batches and answers one Exchanged per item, in order. Throws (StanzaApiError)
 * for the API's failure; a whole answer it cannot use is a `{ bad }` answer for each item.
 */
export interface StanzaApiWire {
  exchange(items: ApiItem[]): Promise<Exchanged[]>;
}

export interface BatchingOptions {
  /** Calls per batch at most. */
  maxItems: number;
  /** How long the first call of a batch waits for others, ms (default GATHER_WINDOW_MS). */
  windowMs?: number;
}

/** An answer of another item count is the API's failure, retried like any other. */
const mismatch = (message: string) => new StanzaApiError(`stanza API ${message}`);

/**
 * `join`, checked before it joins a batch: a heal or notification without a usable identity
 * would fail the request of every call gathered with it.
 */
function identified(join: JoinRef): JoinRef {
  if (!Number.isSafeInteger(join.since) || join.since < 0)
    throw new StanzaApiError(`join ${join.occupant} has no usable identity (since ${join.since})`, { retry: false });
  return join;
}

export class BatchingStanzaApi implements StanzaApi {
  private readonly calls: Gatherer<ApiItem, Exchanged>;

  constructor(
    private readonly wire: StanzaApiWire,
    options: BatchingOptions,
  ) {
    this.calls = new Gatherer(
      (items) => wire.exchange(items),
      options.maxItems,
      options.windowMs ?? GATHER_WINDOW_MS,
      mismatch,
    );
  }

  async heal(join: JoinRef): Promise<PingReply> {
    const { answer, stanza } = await this.calls.call({ kind: 'heal', join: identified(join) });
    return healReply(answer, stanza);
  }

  async selfPing(join: JoinRef): Promise<PingReply> {
    const { answer, stanza } = await this.calls.call({ kind: 'self-ping', join });
    return pingReply(answer, stanza);
  }

  async notify(join: JoinRef): Promise<'sent' | 'no-session'> {
    return notifyReply((await this.calls.call({ kind: 'notify', join: identified(join) })).answer);
  }

  /** Alone, not gathered: the server answers it at once, and a batch of self-pings answers when its slowest reply came. */
  async serverPing(_host: string, remote: string): Promise<void> {
    const [out] = await this.wire.exchange([{ kind: 'server-ping', remote }]);
    if (!out) throw mismatch('answered no item for a server ping');
    serverPingReply(out.answer);
  }
}

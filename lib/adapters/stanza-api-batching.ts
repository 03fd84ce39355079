// The round's self-pings and notifications, gathered into batches (stanza API v2): the round
// keeps calling selfPing/notify one join at a time, C at once, and the calls made together go
// out as one signed request (../support/gather.ts); the round's rules do not change with it.
import type { Element } from 'ltx';
import type { PingReply } from '../domain/model';
import type { StanzaApi } from '../ports';
import { Gatherer } from '../support/gather';
import { StanzaApiError } from './stanza-api-http';

/** A batch answered with another item count is the API's failure, retried like any other. */
const apiError = (message: string) => new StanzaApiError(message);

export interface BatchingOptions {
  /** Items per request at most (the server's ping_muc_cloud_batch_max_items, 500 by default). */
  maxItems: number;
  /** How long the first call of a batch waits for others, ms (the round feeds C at once: a few ms). */
  windowMs?: number;
}

/** `api` with its v2 batch methods used for every call; without them, `api` itself. */
export function batchingStanzaApi(api: StanzaApi, options: BatchingOptions): StanzaApi {
  const { selfPingBatch, notifyBatch, healBatch } = api;
  if (!selfPingBatch || !notifyBatch) return api;
  const windowMs = options.windowMs ?? 5;
  const pings = new Gatherer<{ user: string; occupant: string }, PingReply>(
    (items) => selfPingBatch.call(api, items),
    options.maxItems,
    windowMs,
    apiError,
  );
  const heals =
    healBatch &&
    new Gatherer<{ user: string; occupant: string }, PingReply>(
      (items) => healBatch.call(api, items),
      options.maxItems,
      windowMs,
      apiError,
    );
  const notes = new Gatherer<Element, 'sent' | 'no-session' | 'failed'>(
    (items) => notifyBatch.call(api, items),
    options.maxItems,
    windowMs,
    apiError,
  );
  return {
    selfPing: (user, occupant) => pings.call({ user, occupant }),
    ...(heals && {
      heal: (user: string, occupant: string) => heals.call({ user, occupant }),
      healBatch: (items: Array<{ user: string; occupant: string }>) => healBatch.call(api, items),
    }),
    async notify(presence) {
      const out = await notes.call(presence);
      // One notification the API could not deliver: our failure, retried like a v1 error.
      if (out === 'failed') throw new StanzaApiError('notification not delivered (batch item refused)');
      return out === 'sent';
    },
    ...(api.serverPing && { serverPing: api.serverPing.bind(api) }),
    selfPingBatch: (items) => selfPingBatch.call(api, items),
    notifyBatch: (items) => notifyBatch.call(api, items),
  };
}

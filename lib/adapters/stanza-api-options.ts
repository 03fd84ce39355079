// The stanza API client's options and limits (./stanza-api-http.ts), and those of version 2
// that the module's options mirror (prosody/README.md).
import type { Keys } from '../domain/signature';

/** Version 2: items per request (the module's `ping_muc_cloud_batch_max_items`, default 500). */
export const MAX_BATCH_ITEMS = 500;
/** Version 2: body size per request (the module's `ping_muc_cloud_batch_max_bytes`, default 256 KiB). */
export const MAX_BATCH_BYTES = 256 * 1024;
/** Version 2: room per item in a batch answer, beside MAX_RESPONSE_BYTES for the whole. */
export const MAX_ITEM_ANSWER_BYTES = 8 * 1024;
/** After a server refused a batch with 403 (it predates version 2), batches go as version 1 requests this long. */
export const V1_FALLBACK_MS = 5 * 60_000;
export interface StanzaApiOptions {
  url: string;
  /** The API key, or the current and the previous one during a rotation: each signs every request. */
  key: Keys;
  timeoutMs: number;
  /** For tests and benchmarks: count requests. */
  onRequest?: () => void;
  /** Tries per call on transport errors and 502/503/504, default 3. */
  tries?: number;
  /** Base of the jittered backoff between tries, default 200 ms. */
  retryBaseMs?: number;
  /** Longest wait between tries, default 2 s: a longer retry-after is left to the round's own retry. */
  retryMaxMs?: number;
  /**
   * A kept-alive socket idle this long is closed, default 4 s: below the idle timeouts of common
   * proxies and servers (nginx and Node 5 s, AWS ALB 60 s), so that we close first rather than
   * write into a socket the other side is closing (ECONNRESET).
   */
  idleMs?: number;
  /** For tests: the jitter draw in [0, 1). */
  random?: () => number;
  /** Version 2: items per request, default MAX_BATCH_ITEMS; a longer batch is split. */
  batchMaxItems?: number;
  /** Version 2: body bytes per request, default MAX_BATCH_BYTES; a larger batch is split. */
  batchMaxBytes?: number;
  /** Version 2: HTTP timeout of a batch request, default timeoutMs (it must exceed the server's ping timeout). */
  batchTimeoutMs?: number;
  /** Version 1 requests in flight when a server that predates version 2 serves a batch, default 32. */
  fallbackConcurrency?: number;
}

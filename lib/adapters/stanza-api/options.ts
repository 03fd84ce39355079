// The stanza API client's options and limits (./client.ts), and those that the module's
// options mirror (prosody/README.md).
import type { Keys } from '../../domain/signature';

/** Items per request (the module's `ping_muc_cloud_batch_max_items`, default 500). */
export const MAX_BATCH_ITEMS = 500;
/** Body size per request (the module's `ping_muc_cloud_batch_max_bytes`, default 256 KiB). */
export const MAX_BATCH_BYTES = 256 * 1024;
/** Room per item in an answer, beside MAX_RESPONSE_BYTES for the whole. */
export const MAX_ITEM_ANSWER_BYTES = 8 * 1024;
/** How long the first call of a batch waits for others, ms: the round makes its calls C at once. */
export const GATHER_WINDOW_MS = 5;

export interface StanzaApiOptions {
  url: string;
  /** The API key, or the current and the previous one during a rotation: each signs every request. */
  key: Keys;
  /**
   * The VirtualHost whose API this is, sent as `ping-muc-host` on every call: one URL serving
   * several hosts (no registry, one module configuration) runs a batch as that host, which
   * matters for a batch of server pings, which names no user (docs/hosts.md).
   */
  host?: string;
  /** HTTP timeout of a request: it must exceed the server's ping timeout (a batch answers once, when every item is settled). */
  timeoutMs: number;
  /** For tests and benchmarks: count requests. */
  onRequest?: () => void;
  /** Tries per request on transport errors and 502/503/504, default 3. */
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
  /** Calls gathered into one batch at most (PING_MUC_API_BATCH), default batchMaxItems. */
  gatherMaxItems?: number;
  /** How long the first call of a batch waits for others, default GATHER_WINDOW_MS. */
  windowMs?: number;
  /** Items per request, default MAX_BATCH_ITEMS; a longer batch is split. */
  batchMaxItems?: number;
  /** Body bytes per request, default MAX_BATCH_BYTES; a larger batch is split. */
  batchMaxBytes?: number;
}

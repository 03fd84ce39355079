// The whole product on one machine: Prosody A (users + mod_ping_muc_cloud), B (and C) with
// MUCs, the ping-muc local service in-process, and two taps that record what crosses the wire
// (events A → ping-muc, stanza API calls ping-muc → A).
import { startLocalService, MEMORY, type LocalService } from '../../lib/wiring/local';
import type { Join } from '../../lib/domain/model';
import { ApiRecorder, EventsTap } from './http';
import { DOMAINS, Testbed, type TestbedOptions } from './testbed';
import { User } from './users';

export interface StackOptions extends TestbedOptions {
  /** ping-muc's delay after a close, seconds. */
  delaySeconds?: number;
  rechecks?: number;
  recheckBaseSeconds?: number;
  /** Extra PING_MUC_* settings. */
  env?: Record<string, string>;
  /** Where the service logs (default: kept in memory, see `serviceLog`). */
  log?: (line: string) => void;
}

export class Stack {
  readonly serviceLog: string[] = [];
  readonly users: User[] = [];
  service!: LocalService;
  api!: ApiRecorder;
  events!: EventsTap;

  private constructor(
    readonly bed: Testbed,
    readonly opts: StackOptions,
  ) {}

  static async start(opts: StackOptions = {}): Promise<Stack> {
    const bed = await Testbed.create(opts);
    const stack = new Stack(bed, opts);
    try {
      await stack.boot();
    } catch (e) {
      await stack.stop();
      throw e;
    }
    return stack;
  }

  get delayMs(): number {
    return (this.opts.delaySeconds ?? 2) * 1000;
  }

  private async boot(): Promise<void> {
    const { bed, opts } = this;
    this.api = new ApiRecorder(bed.apiUrl);
    await this.api.start();
    this.service = await startLocalService({
      dataDir: MEMORY,
      env: {
        PING_MUC_API_URL: this.api.url,
        PING_MUC_WEBHOOK_SECRET: bed.webhookSecret,
        PING_MUC_API_SECRET: bed.apiSecret,
        PING_MUC_DELAY_SECONDS: String(opts.delaySeconds ?? 2),
        PING_MUC_RECHECKS: String(opts.rechecks ?? 2),
        PING_MUC_RECHECK_BASE_SECONDS: String(opts.recheckBaseSeconds ?? 1),
        PING_MUC_API_TIMEOUT_MS: '8000',
        LOG_LEVEL: 'info',
        ...opts.env,
      },
      log: opts.log ?? ((line) => this.serviceLog.push(line)),
      pollMs: 50,
    });
    this.events = new EventsTap(this.service.eventsUrl);
    await this.events.start();
    await bed.start(this.events.url);
  }

  /** Connects a new user of A (account created on the fly). */
  async user(name: string, resource = 'e2e'): Promise<User> {
    const u = await User.connect(this.bed.a, DOMAINS.a, name, 'secret-pw', resource);
    this.users.push(u);
    return u;
  }

  /** Every live join of A in rooms on `remote`, as the store holds them. */
  async joins(remote: string): Promise<Join[]> {
    const out: Join[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.service.store.joinsOf(DOMAINS.a, remote, 500, cursor);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** Waits until the store holds exactly what `pred` wants (events are asynchronous). */
  async waitForJoins(remote: string, pred: (joins: Join[]) => boolean, timeoutMs = 10_000): Promise<Join[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const joins = await this.joins(remote);
      if (pred(joins)) return joins;
      if (Date.now() > deadline)
        throw new Error(`store did not reach the expected joins on ${remote}: ${JSON.stringify(joins)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Servers first (no more events), then the clients, the taps, and ping-muc last. */
  async stop(): Promise<void> {
    await this.bed.stop();
    await Promise.all(this.users.map((u) => u.stop()));
    await this.events?.close();
    await new Promise((r) => setTimeout(r, 300)); // let requests already inside ping-muc finish
    await this.api?.close();
    await this.service?.close();
  }
}

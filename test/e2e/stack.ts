// The whole product on one machine: Prosody A (users + mod_ping_muc_cloud), B (and C) with
// MUCs, the ping-muc local service in-process, and two taps that record what crosses the wire
// (events A → ping-muc, stanza API calls ping-muc → A).
import { expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startLocalService, MEMORY, type LocalService } from '../../lib/wiring/local';
import type { Join } from '../../lib/domain/model';
import { ApiRecorder, EventsTap } from './http';
import { DOMAINS, SERVERS, Testbed, type TestbedOptions } from '../../harness/testbed';
import { User } from '../../harness/users';
import { waitFor } from '../support/wait';

export interface StackOptions extends TestbedOptions {
  /** ping-muc's delay after a close, seconds. */
  delaySeconds?: number;
  rechecks?: number;
  recheckBaseSeconds?: number;
  /** Extra PING_MUC_* settings. */
  env?: Record<string, string>;
  /** Where the service logs (default: kept in memory, see `serviceLog`). */
  log?: (line: string) => void;
  /** ping-muc reads its hosts from a registry file (PING_MUC_HOSTS_FILE, re-read on every
   * request) and derives their keys from a master key file (`masterKeyFile`, re-read too):
   * a.test, and a2.test with `aSecondHost` (on a.test's server with `sharedConfig`). Edit
   * `registry` or `master`, then `saveRegistry()` / `saveMasterKey()`. Implied by `aSecondHost`,
   * unless `sharedConfig`. */
  registry?: boolean;
}

/** One server in ping-muc's hosts registry (docs/hosts.md). */
export interface RegistryServer {
  id: string;
  hosts: string[];
  apiUrl: string;
}

export class Stack {
  readonly serviceLog: string[] = [];
  readonly users: User[] = [];
  service!: LocalService;
  api!: ApiRecorder;
  /** a2.test's stanza API calls (with `aSecondHost`). */
  api2: ApiRecorder | undefined;
  events!: EventsTap;
  /** The hosts registry as written to `registryFile` (with `registry` or `aSecondHost`). */
  readonly registry: RegistryServer[] = [];
  registryFile: string | undefined;
  /** The master key as written to `masterKeyFile` (with a registry): A's keys derive from `current`. */
  readonly master: { current: string; previous?: string } = { current: '' };
  masterKeyFile: string | undefined;

  private constructor(
    readonly bed: Testbed,
    readonly opts: StackOptions,
  ) {}

  static async start(opts: StackOptions = {}): Promise<Stack> {
    const listed = opts.registry || (opts.aSecondHost && !opts.sharedConfig);
    const masterKey = listed ? randomBytes(32).toString('base64') : undefined;
    const bed = await Testbed.create({ ...opts, masterKey });
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
    let hostsEnv: Record<string, string> = {};
    if (bed.opts.masterKey) {
      // a.test and a2.test have their own stanza API addresses: two servers in the registry. With
      // a shared configuration, one server: both hosts, a.test's API, the global pair of keys.
      const shared = opts.aSecondHost && opts.sharedConfig;
      const hosts = shared ? [DOMAINS.a, DOMAINS.a2] : [DOMAINS.a];
      this.registry.push({ id: SERVERS.a, hosts, apiUrl: this.api.url });
      if (opts.aSecondHost && !shared) {
        this.api2 = new ApiRecorder(bed.apiUrl2);
        await this.api2.start();
        this.registry.push({ id: SERVERS.a2, hosts: [DOMAINS.a2], apiUrl: this.api2.url });
      }
      this.registryFile = path.join(bed.root, 'ping-muc-hosts.json');
      this.saveRegistry();
      this.master.current = bed.opts.masterKey;
      this.masterKeyFile = path.join(bed.root, 'ping-muc-master-key.json');
      this.saveMasterKey();
      hostsEnv = {
        PING_MUC_HOSTS_FILE: this.registryFile,
        PING_MUC_MASTER_KEY_FILE: this.masterKeyFile,
        PING_MUC_CACHE_SECONDS: '0',
      };
    }
    this.service = await startLocalService({
      dataDir: MEMORY,
      env: {
        PING_MUC_API_URL: this.api.url,
        PING_MUC_WEBHOOK_SECRET: bed.webhookSecret,
        PING_MUC_API_SECRET: bed.apiSecret,
        ...hostsEnv,
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

  /** Writes `registry` to the registry file, in the registry's format. */
  saveRegistry(): void {
    if (!this.registryFile) throw new Error('this stack has no hosts registry (registry or aSecondHost)');
    writeAtomically(this.registryFile, JSON.stringify({ servers: this.registry }, null, 2));
  }

  /** Writes `master` to the master key file. */
  saveMasterKey(): void {
    if (!this.masterKeyFile) throw new Error('this stack has no master key file (registry or aSecondHost)');
    writeAtomically(this.masterKeyFile, JSON.stringify(this.master));
  }

  /** Connects a new user of A (account created on the fly), on a.test or on `domain`. */
  async user(name: string, resource = 'e2e', domain: string = DOMAINS.a): Promise<User> {
    const u = await User.connect(this.bed.a, domain, name, 'secret-pw', resource);
    this.users.push(u);
    return u;
  }

  /**
   * Every live join of `host`'s users (a.test by default) in rooms on `remote`, as the store
   * holds them, of `epoch`: by default the epoch of the host's last event that reached ping-muc
   * (the module's current one; 0 when its events carry none).
   */
  async joins(remote: string, host: string = DOMAINS.a, epoch = this.epochOf(host)): Promise<Join[]> {
    const out: Join[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.service.store.joinsOf(host, epoch, remote, 500, cursor);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  /** The epoch of `host`'s last event that ping-muc accepted (0: none, or none carried one). */
  epochOf(host: string): number {
    const last = this.events?.events.findLast((e) => e.host === host);
    return typeof last?.epoch === 'number' ? last.epoch : 0;
  }

  /** Waits until the store holds exactly what `pred` wants (events are asynchronous). */
  async waitForJoins(
    remote: string,
    pred: (joins: Join[]) => boolean,
    timeoutMs = 10_000,
    host: string = DOMAINS.a,
  ): Promise<Join[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const joins = await this.joins(remote, host);
      if (pred(joins)) return joins;
      if (Date.now() > deadline)
        throw new Error(`store did not reach the expected joins on ${remote}: ${JSON.stringify(joins)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits until ping-muc has logged `message` at least `count` times. */
  waitForLog(message: string, count = 1, timeoutMs = 20_000): Promise<void> {
    const times = () => this.serviceLog.filter((l) => l.includes(`"message":"${message}"`)).length;
    return waitFor(`${count}× "${message}" in ping-muc's log`, () => times() >= count, timeoutMs, 50);
  }

  /**
   * The module posted no leave for these (user, room): it forgets a join as it delivers our
   * notification, and the store keeps the join until a rejoin, the session's end, expiry, or a
   * later round's no-session.
   */
  expectNoLeaves(notified: ReadonlyArray<readonly [{ jid: string }, string]>): void {
    for (const [user, room] of notified) {
      expect(this.events.events.filter((e) => e.type === 'leave' && e.user === user.jid && e.room === room)).toEqual(
        [],
      );
    }
  }

  /** Servers first (no more events), then the clients, the taps, and ping-muc last. */
  async stop(): Promise<void> {
    await this.bed.stop();
    await Promise.all(this.users.map((u) => u.stop()));
    await this.events?.close();
    await new Promise((r) => setTimeout(r, 300)); // let requests already inside ping-muc finish
    await this.api?.close();
    await this.api2?.close();
    await this.service?.close();
  }
}

/** Atomic: ping-muc never reads half a file. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

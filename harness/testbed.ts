// A testbed of real Prosody servers joined by real s2s on loopback.
//
// Each testbed takes its own loopback subnet 127.N.0.0/24 (A = .1, B = .2, C = .3) so
// that the fixed s2s port 5269 never clashes between test files running in parallel,
// and its own temp dir (configs, data, logs, a private hosts file for libunbound).
// Every process is started as a child and stopped by its PID.
//
// Reuse (e.g. the benchmark):
//   const stack = await Stack.start({ delaySeconds: 2 });          // stack.ts: + ping-muc
//   const u = await stack.user('u1'); await u.join('r1@muc.b.test', 'U1');
//   await stack.bed.b.kill(); await stack.bed.b.start();           // the hard-kill scenario
//   ... u.notifications(), stack.api.pings(), stack.joins('muc.b.test'); await stack.stop();
// Debian's mod_ping_muc instead of ours (needs the prosody-modules package):
//   const bed = await Testbed.create({ aModules: ['ping_muc'] }); await bed.start('http://127.0.0.1:9/');
// `aOptions` adds options on A's VirtualHost, `logLevel: 'debug'` logs every stanza.
// Accounts are written straight into the data dir (`server.register`), so 1000 users are cheap.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { domainToASCII, fileURLToPath } from 'node:url';
import { serverKeys, type KeyKind, keyText, parseMasterKey } from '../lib/domain/keys';
import { EjabberdServer, requireEjabberd } from './ejabberd';
import { checkProsody, prosodyInstall } from './prosody-version';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The plugin path the servers get (`plugin_paths`): Prosody finds our module in its folder,
 * `mod_ping_muc_cloud/mod_ping_muc_cloud.lua`, and the module's `module:require("<name>")`
 * libraries next to it, `mod_ping_muc_cloud/<name>.lib.lua`. */
export const MODULE_DIR = process.env.PING_MUC_MODULE_DIR ?? path.join(REPO, 'prosody');
/** The module's folder, as installed into a plugin path. */
export const MODULE_FOLDER = path.join(MODULE_DIR, 'mod_ping_muc_cloud');

export const C2S_PORT = 5222;
export const S2S_PORT = 5269;
export const HTTP_PORT = 5280;

/** Fail loudly (never skip) when the chosen Prosody (PING_MUC_PROSODY: 0.12 or 13) does not run
 * or is another version (harness/prosody-version.ts); returns its `Prosody x.y.z`. */
export function requireProsody(): string {
  return checkProsody();
}

type LuaValue = string | number | boolean | LuaValue[] | { [k: string]: LuaValue };

export function lua(v: LuaValue): string {
  if (typeof v === 'string') return JSON.stringify(v); // JSON string escapes are valid Lua
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{ ${v.map(lua).join(', ')} }`;
  return `{ ${Object.entries(v)
    .map(([k, x]) => `[${JSON.stringify(k)}] = ${lua(x)}`)
    .join('; ')} }`;
}

export interface ServerSpec {
  name: string;
  ip: string;
  /** VirtualHosts (users live here). */
  vhosts: string[];
  /** MUC components. */
  mucs: string[];
  /** Modules for the VirtualHosts, on top of the base set. */
  modules?: string[];
  /** Extra options for each VirtualHost. */
  hostOptions?: Record<string, LuaValue>;
  /** Options of one VirtualHost, over `hostOptions` (e.g. its own secrets). */
  vhostOptions?: Record<string, Record<string, LuaValue>>;
  /** Extra global options. */
  globalOptions?: Record<string, LuaValue>;
  logLevel?: 'debug' | 'info' | 'warn';
}

// admin_shell: `prosodyctl shell` (module reloads) over a unix socket in the data dir.
const BASE_MODULES = ['roster', 'saslauth', 'dialback', 'disco', 'ping', 'admin_shell'];

/** PIDs of the servers this process started and that still run: killed if the process exits. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export class ProsodyServer {
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stderr = '';

  constructor(
    readonly spec: ServerSpec,
    root: string,
    private readonly hostsFile: string,
  ) {
    this.dir = path.join(root, spec.name);
    fs.mkdirSync(path.join(this.dir, 'data'), { recursive: true });
    this.configPath = path.join(this.dir, 'prosody.cfg.lua');
    this.logPath = path.join(this.dir, 'prosody.log');
    fs.writeFileSync(this.configPath, this.config(hostsFile));
  }

  get ip(): string {
    return this.spec.ip;
  }
  get pid(): number | undefined {
    return this.proc?.exitCode === null && this.proc.signalCode === null ? this.proc.pid : undefined;
  }
  get c2sService(): string {
    return `xmpp://${this.ip}:${C2S_PORT}`;
  }
  get httpBase(): string {
    return `http://${this.ip}:${HTTP_PORT}`;
  }

  private config(hostsFile: string): string {
    const s = this.spec;
    const global: Record<string, LuaValue> = {
      daemonize: false,
      run_as_root: true,
      pidfile: path.join(this.dir, 'prosody.pid'),
      data_path: path.join(this.dir, 'data'),
      plugin_paths: [MODULE_DIR],
      interfaces: [s.ip],
      local_interfaces: [s.ip],
      c2s_interfaces: [s.ip],
      s2s_interfaces: [s.ip],
      http_interfaces: [s.ip],
      https_interfaces: [s.ip],
      c2s_ports: [C2S_PORT],
      s2s_ports: [S2S_PORT],
      http_ports: [HTTP_PORT],
      https_ports: [],
      c2s_direct_tls_ports: [],
      s2s_direct_tls_ports: [],
      component_ports: [],
      unbound: { hoststxt: hostsFile },
      modules_enabled: BASE_MODULES,
      authentication: 'internal_plain',
      storage: 'internal',
      c2s_require_encryption: false,
      s2s_require_encryption: false,
      s2s_secure_auth: false,
      allow_unencrypted_plain_auth: true,
      log: { [s.logLevel ?? 'info']: this.logPath },
      statistics: 'internal',
      ...s.globalOptions,
    };
    const lines = [`-- ${s.name}: generated by harness/testbed.ts`];
    for (const [k, v] of Object.entries(global)) lines.push(`${k} = ${lua(v)}`);
    for (const vhost of s.vhosts) {
      lines.push('', `VirtualHost ${lua(vhost)}`);
      lines.push(`\tmodules_enabled = ${lua(s.modules ?? [])}`);
      for (const [k, v] of Object.entries({ ...s.hostOptions, ...s.vhostOptions?.[vhost] }))
        lines.push(`\t${k} = ${lua(v)}`);
    }
    for (const muc of s.mucs) {
      // Persistent rooms: Prosody 0.12 destroys a temporary room whose only occupant changes
      // nick (the room looks empty for a moment), which would muddle the nick-change tests.
      lines.push(
        '',
        `Component ${lua(muc)} "muc"`,
        '\tmuc_room_locking = false',
        '\tmuc_room_default_persistent = true',
      );
    }
    return lines.join('\n') + '\n';
  }

  /** Creates an account by writing the internal_plain store directly (fast, no prosodyctl). */
  register(host: string, username: string, password: string): void {
    const enc = (s: string) => s.replace(/[^a-zA-Z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    const dir = path.join(this.dir, 'data', enc(host), 'accounts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${enc(username)}.dat`), `return {\n\t["password"] = ${lua(password)};\n};\n`);
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.pid) throw new Error(`${this.spec.name} is already running (pid ${this.pid})`);
    this.stderr = '';
    const proc = spawn(prosodyInstall().prosody, ['--config', this.configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    if (proc.pid) live.add(proc.pid);
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        if (proc.pid) live.delete(proc.pid);
        resolve();
      }),
    );
    const ports = [C2S_PORT, S2S_PORT];
    if (this.spec.modules?.some((m) => m === 'ping_muc_cloud' || m === 'http')) ports.push(HTTP_PORT);
    const deadline = Date.now() + timeoutMs;
    for (const port of ports) {
      while (!(await canConnect(this.ip, port))) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(
            `${this.spec.name} exited at start (${proc.exitCode ?? proc.signalCode}): ${this.stderr}\n${this.tailLog()}`,
          );
        }
        if (Date.now() > deadline)
          throw new Error(`${this.spec.name} did not listen on ${this.ip}:${port}\n${this.tailLog()}`);
        await sleep(50);
      }
    }
  }

  /** kill -9: the process dies, its sockets close, occupants in memory are lost. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGSTOP: the process freezes with its sockets open (an overloaded or hung remote). */
  pause(): void {
    if (this.pid) process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.pid) process.kill(this.pid, 'SIGCONT');
  }

  /** Graceful stop (SIGTERM): Prosody saves its rooms and closes its streams. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM', 15_000);
  }

  private async signal(sig: NodeJS.Signals, graceMs = 5_000): Promise<void> {
    const pid = this.pid;
    if (!pid) return;
    process.kill(pid, sig);
    if (sig !== 'SIGKILL') process.kill(pid, 'SIGCONT'); // a paused server must see the signal
    const done = await Promise.race([this.exited!.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done && this.pid === pid) {
      process.kill(pid, 'SIGKILL');
      await this.exited;
    }
  }

  /** Runs one admin shell command, e.g. `shell('module', 'reload', 'ping_muc_cloud', 'a.test')`. */
  shell(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const p = spawn(prosodyInstall().prosodyctl, ['--config', this.configPath, 'shell', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
      p.once('exit', (code) => {
        clearTimeout(t);
        if (code === 0) resolve(out);
        else reject(new Error(`prosodyctl shell ${args.join(' ')} exited ${code}: ${out}`));
      });
    });
  }

  /** Writes the config again from `spec` (change it first) and reloads it (`config:reload()`):
   * our module takes new secrets at once; other options need a module reload. */
  async reloadConfig(): Promise<void> {
    fs.writeFileSync(this.configPath, this.config(this.hostsFile));
    const out = await this.shell('config', 'reload');
    if (!/Config reloaded/i.test(out)) throw new Error(`config reload of ${this.spec.name} failed: ${out}`);
  }

  /** Reloads a module on a host (Prosody's module:reload: save, unload, load, restore). */
  async reloadModule(name: string, host: string): Promise<void> {
    const out = await this.shell('module', 'reload', name, host);
    if (!/Reloaded|OK/i.test(out)) throw new Error(`reload of ${name} on ${host} failed: ${out}`);
  }

  tailLog(lines = 40): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  log(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a TCP connection to host:port opens within a second. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Takes a loopback subnet 127.N.0.0/24 nobody else in this machine's tests holds. */
async function allocateSubnet(): Promise<{ n: number; release(): void }> {
  const lockDir = path.join(os.tmpdir(), 'ping-muc-testbed-locks');
  fs.mkdirSync(lockDir, { recursive: true });
  const start = 2 + Math.floor(Math.random() * 250);
  for (let i = 0; i < 250; i++) {
    const n = 2 + ((start - 2 + i) % 250);
    const lock = path.join(lockDir, `${n}.lock`);
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
    } catch {
      const owner = Number(fs.readFileSync(lock, 'utf8'));
      if (owner && isAlive(owner)) continue;
      fs.rmSync(lock, { force: true }); // stale: its owner is gone
      continue;
    }
    const ips = [1, 2, 3].map((h) => `127.${n}.0.${h}`);
    let free = true;
    for (const ip of ips) {
      for (const port of [C2S_PORT, S2S_PORT, HTTP_PORT]) if (!(await canBind(ip, port))) free = false;
    }
    if (free) return { n, release: () => fs.rmSync(lock, { force: true }) };
    fs.rmSync(lock, { force: true });
  }
  throw new Error(
    `no free loopback subnet with ports ${C2S_PORT}/${S2S_PORT}/${HTTP_PORT}: is a system Prosody listening on all interfaces? ` +
      'Stop it (e.g. `service prosody stop`) and run the tests again.',
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface TestbedOptions {
  /** Start a third server C with muc.c.test (rooms on a second remote domain). */
  withC?: boolean;
  /** Modules on A's VirtualHost; default our module. */
  aModules?: string[];
  /** Extra options on A's VirtualHost (merged over the ping_muc_cloud ones). */
  aOptions?: Record<string, LuaValue>;
  /** Extra global options on A (e.g. `s2s_send_queue_size`). */
  aGlobalOptions?: Record<string, LuaValue>;
  /** Extra global options on B (e.g. `muc_room_cache_size`). */
  bGlobalOptions?: Record<string, LuaValue>;
  logLevel?: 'debug' | 'info' | 'warn';
  /** More MUC components on B, e.g. an IDN domain (Unicode form; the hosts file gets its ASCII form). */
  bMucs?: string[];
  /** A serves a second VirtualHost, a2.test, with our module, its own secrets (`webhookSecret2`,
   * `apiSecret2`) and its own stanza API address (`apiUrl2`: 127.N.0.4, its `http_host`). */
  aSecondHost?: boolean;
  /** With `aSecondHost`: one shared configuration instead, as most operators write it: the
   * module in the global `modules_enabled` with its options (one pair of keys, a.test's) at the
   * top level, nothing of it under the VirtualHosts. */
  sharedConfig?: boolean;
  /** B is ejabberd (harness/ejabberd.ts) instead of Prosody: `bed.ejabberd`, `bed.b` unset. */
  bEjabberd?: { persistentRooms?: boolean };
  /** A's keys are derived from this master key value for its registry servers (SERVERS, as
   * `npm run host-keys` prints them), not random. */
  masterKey?: string;
}

/** The registry's server ids (test/e2e/stack.ts): a.test's, and a2.test's unless `sharedConfig`
 * puts both hosts on a.test's server. */
export const SERVERS = { a: 'a', a2: 'a2' } as const;

/** A server's key: derived from the master key value when there is one, else random. */
function keyOf(master: string | undefined, kind: KeyKind, server: string): string {
  if (!master) return `whsec_${randomBytes(32).toString('base64')}`;
  return keyText(serverKeys(parseMasterKey(JSON.stringify({ current: master })), kind, server)[0] as Buffer);
}

export const DOMAINS = {
  a: 'a.test',
  a2: 'a2.test',
  b: 'b.test',
  mucB: 'muc.b.test',
  c: 'c.test',
  mucC: 'muc.c.test',
} as const;

/**
 * Two-phase: `createTestbed` fixes addresses, secrets and the stanza API URL (so the
 * ping-muc service can be configured first); `start(eventsUrl)` writes A's config and
 * starts every server.
 */
export class Testbed {
  readonly root: string;
  readonly hostsFile: string;
  readonly webhookSecret: string;
  readonly apiSecret: string;
  /** a2.test's secrets (with `aSecondHost`). */
  readonly webhookSecret2: string;
  readonly apiSecret2: string;
  a!: ProsodyServer;
  b!: ProsodyServer;
  c: ProsodyServer | undefined;
  /** With `bEjabberd`: B, an ejabberd. */
  ejabberd: EjabberdServer | undefined;
  private released = false;

  private constructor(
    readonly subnet: number,
    private readonly releaseSubnet: () => void,
    readonly opts: TestbedOptions,
  ) {
    this.webhookSecret = keyOf(opts.masterKey, 'webhook', SERVERS.a);
    this.apiSecret = keyOf(opts.masterKey, 'stanza-api', SERVERS.a);
    this.webhookSecret2 = keyOf(opts.masterKey, 'webhook', SERVERS.a2);
    this.apiSecret2 = keyOf(opts.masterKey, 'stanza-api', SERVERS.a2);
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'ping-muc-e2e-'));
    this.hostsFile = path.join(this.root, 'hosts');
    const ip = (h: number) => `127.${subnet}.0.${h}`;
    // libunbound resolves the ASCII (punycode) form Prosody looks up for an IDN domain.
    const bMucs = (opts.bMucs ?? []).map((d) => domainToASCII(d));
    fs.writeFileSync(
      this.hostsFile,
      [
        `${ip(1)} ${DOMAINS.a} ${DOMAINS.a2}`,
        `${ip(2)} ${DOMAINS.b} ${DOMAINS.mucB} ${bMucs.join(' ')}`.trimEnd(),
        `${ip(3)} ${DOMAINS.c} ${DOMAINS.mucC}`,
      ].join('\n') + '\n',
    );
  }

  static async create(opts: TestbedOptions = {}): Promise<Testbed> {
    requireProsody();
    if (opts.bEjabberd) requireEjabberd();
    const { n, release } = await allocateSubnet();
    return new Testbed(n, release, opts);
  }

  ip(h: 1 | 2 | 3 | 4): string {
    return `127.${this.subnet}.0.${h}`;
  }

  /** A's stanza API URL (fixed before A starts). */
  get apiUrl(): string {
    return `http://${this.ip(1)}:${HTTP_PORT}/ping_muc_cloud/stanza`;
  }

  /** a2.test's stanza API URL (with `aSecondHost`): A also listens on 127.N.0.4, a2.test's `http_host`. */
  get apiUrl2(): string {
    return `http://${this.ip(4)}:${HTTP_PORT}/ping_muc_cloud/stanza`;
  }

  async start(eventsUrl: string): Promise<void> {
    const level = this.opts.logLevel ?? 'info';
    const moduleOptions = {
      ping_muc_cloud_events_url: eventsUrl,
      ping_muc_cloud_webhook_secret: this.webhookSecret,
      ping_muc_cloud_api_secret: this.apiSecret,
      ping_muc_cloud_retry_min: 0.2,
      ping_muc_cloud_retry_max: 2,
      // Joins and leaves posted within moments, as the tests wait for them; a test of the
      // linger sets its own.
      ping_muc_cloud_linger: 0.2,
      ...this.opts.aOptions,
    };
    const shared = !!this.opts.sharedConfig;
    this.a = new ProsodyServer(
      {
        name: 'a',
        ip: this.ip(1),
        vhosts: this.opts.aSecondHost ? [DOMAINS.a, DOMAINS.a2] : [DOMAINS.a],
        mucs: [],
        modules: shared ? [] : (this.opts.aModules ?? ['ping_muc_cloud']),
        hostOptions: shared ? {} : moduleOptions,
        vhostOptions: shared
          ? {}
          : {
              [DOMAINS.a2]: {
                ping_muc_cloud_webhook_secret: this.webhookSecret2,
                ping_muc_cloud_api_secret: this.apiSecret2,
                http_host: this.ip(4),
              },
            },
        // ping-muc calls http://<ip>:5280/…: route requests for unknown Host headers to A.
        globalOptions: {
          ...(shared && {
            ...moduleOptions,
            modules_enabled: [...BASE_MODULES, ...(this.opts.aModules ?? ['ping_muc_cloud'])],
          }),
          http_default_host: DOMAINS.a,
          ...(this.opts.aSecondHost ? { http_interfaces: [this.ip(1), this.ip(4)] } : {}),
          ...this.opts.aGlobalOptions,
        },
        logLevel: level,
      },
      this.root,
      this.hostsFile,
    );
    if (this.opts.bEjabberd) {
      this.ejabberd = new EjabberdServer(this.ip(2), this.root, this.hostsFile, this.opts.bEjabberd);
    } else
      this.b = new ProsodyServer(
        {
          name: 'b',
          ip: this.ip(2),
          vhosts: [DOMAINS.b],
          mucs: [DOMAINS.mucB, ...(this.opts.bMucs ?? [])],
          ...(this.opts.bGlobalOptions ? { globalOptions: this.opts.bGlobalOptions } : {}),
          logLevel: level,
        },
        this.root,
        this.hostsFile,
      );
    if (this.opts.withC) {
      this.c = new ProsodyServer(
        { name: 'c', ip: this.ip(3), vhosts: [DOMAINS.c], mucs: [DOMAINS.mucC], logLevel: level },
        this.root,
        this.hostsFile,
      );
    }
    await Promise.all([this.a.start(), this.ejabberd?.start() ?? this.b.start(), this.c?.start()]);
  }

  servers(): ProsodyServer[] {
    return [this.a, this.b, this.c].filter((s): s is ProsodyServer => !!s);
  }

  /** Kills every server by PID, frees the subnet; keeps the temp dir if KEEP_E2E=1. */
  async stop(): Promise<void> {
    await Promise.all([...this.servers().map((s) => s.kill()), this.ejabberd?.kill()]);
    if (!this.released) {
      this.released = true;
      this.releaseSubnet();
      if (process.env.KEEP_E2E !== '1') fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}

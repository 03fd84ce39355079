// Secret rotation on mod_ping_muc_cloud's side: while a previous secret is set, events carry
// a signature under each secret and stanza API calls pass under either; a config reload
// changes the secrets at once; a 401 is retried (same webhook-id, signed anew), not dropped.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverKeys, type KeyKind, keyText, parseMasterKey } from '../../lib/domain/keys';
import { secretKey, verify } from '../../lib/domain/signature';
import { batch, only, ping } from './batch';
import { callApi, EventsReceiver } from './http';
import { Stack } from './stack';
import { DOMAINS, SERVERS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const probe = (id: string) => batch([ping(id, `nobody@${DOMAINS.a}/x`, `rot@${DOMAINS.mucB}/Nobody`)]);

describe('module side of a secret rotation', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User;
  const oldWebhook = newSecret();
  const oldApi = newSecret();
  const hostOptions = () => bed.a.spec.hostOptions!;

  beforeAll(async () => {
    bed = await Testbed.create({
      aOptions: {
        ping_muc_cloud_webhook_secret_previous: oldWebhook,
        ping_muc_cloud_api_secret_previous: oldApi,
      },
    });
    rx = new EventsReceiver(oldWebhook); // ping-muc still holds the old secret
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
  });

  afterAll(async () => {
    await bed?.stop();
    await alice?.stop();
    await rx?.close();
  });

  it('signs every event request with both secrets while the previous one is set', async () => {
    await alice.join(`rot@${DOMAINS.mucB}`, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
    expect(rx.requests.every((r) => r.status === 200)).toBe(true);
    for (const r of rx.requests) {
      const sigs = r.headers['webhook-signature']!.split(' ');
      expect(sigs).toHaveLength(2);
      // One signature under the new secret, one under the previous one.
      const under = (secret: string) =>
        sigs.filter((sig) => {
          try {
            verify(secretKey(secret), { ...r.headers, 'webhook-signature': sig }, r.body);
            return true;
          } catch {
            return false;
          }
        });
      expect(under(bed.webhookSecret)).toHaveLength(1);
      expect(under(oldWebhook)).toHaveLength(1);
    }
  });

  it('accepts stanza API calls signed with either API secret only', async () => {
    expect(only(await callApi(bed.apiUrl, bed.apiSecret, probe('p1')))).toBe('no-session');
    expect(only(await callApi(bed.apiUrl, oldApi, probe('p2')))).toBe('no-session');
    expect((await callApi(bed.apiUrl, newSecret(), probe('p3'))).status).toBe(401);
  });

  it('retries a 401 with backoff under the same webhook-id until the secrets agree', async () => {
    rx.secret = newSecret(); // ping-muc switched to a secret the module does not have
    const from = rx.requests.length;
    const refused = () => rx.requests.slice(from).filter((r) => r.status === 401);
    try {
      await alice.leave(`rot@${DOMAINS.mucB}`, 'Alice');
      const deadline = Date.now() + 8000;
      while (refused().length < 4 && Date.now() < deadline) await sleep(50);
      expect(refused().length).toBeGreaterThanOrEqual(4);
      expect(new Set(refused().map((r) => r.id)).size).toBe(1);
      // Signed anew for each attempt (a fresh timestamp), backing off: each wait is half to all of
      // a step that doubles, so the third is at least twice the first whatever the jitter.
      const gaps = refused()
        .slice(1)
        .map((r, i) => r.at - refused()[i]!.at);
      expect(gaps[2]!).toBeGreaterThan(gaps[0]! * 1.5);
      expect(bed.a.log()).toMatch(/error\tping-muc refused the signature of \d+ event\(s\) \(HTTP 401/);
      expect(bed.a.log()).not.toMatch(/ping-muc refused \d+ event\(s\) with HTTP 401/);
    } finally {
      rx.secret = bed.webhookSecret; // the tests after this one need the module's events
    }
    const leave = await rx.waitFor((e) => e.type === 'leave' && e.user === alice.jid, 8000);
    const delivered = rx.requests.find((r) => r.status === 200 && r.events.includes(leave));
    expect(delivered?.id).toBe(refused()[0]!.id);
  });

  it('takes new secrets on a config reload without reloading the module', async () => {
    delete hostOptions().ping_muc_cloud_webhook_secret_previous;
    delete hostOptions().ping_muc_cloud_api_secret_previous;
    await bed.a.reloadConfig();
    const from = rx.requests.length;
    await alice.join(`rot2@${DOMAINS.mucB}`, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.room === `rot2@${DOMAINS.mucB}`);
    for (const r of rx.requests.slice(from)) expect(r.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect((await callApi(bed.apiUrl, oldApi, probe('p4'))).status).toBe(401);
    expect((await callApi(bed.apiUrl, bed.apiSecret, probe('p5'))).status).toBe(200);
    expect(new Set(rx.events.map((e) => e.epoch)).size).toBe(1); // no module reload: one epoch
  });

  it('keeps the secrets in use when a config reload brings a weak one', async () => {
    hostOptions().ping_muc_cloud_webhook_secret = 'short';
    await bed.a.reloadConfig();
    expect(bed.a.log()).toMatch(/error\tConfig reloaded with a bad secret: keeping the secrets in use/);
    const from = rx.requests.length;
    await alice.leave(`rot2@${DOMAINS.mucB}`, 'Alice');
    await rx.waitFor((e) => e.type === 'leave' && e.room === `rot2@${DOMAINS.mucB}`);
    expect(rx.requests.slice(from).every((r) => r.status === 200)).toBe(true);
  });
});

describe('rotating the master key while events flow, against ping-muc', () => {
  let stack: Stack;
  const users: User[] = [];
  const joined: string[] = []; // `${user} ${room}` of every join made

  beforeAll(async () => {
    stack = await Stack.start({ registry: true });
    users.push(await stack.user('flow1'), await stack.user('flow2'));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('loses no event: every join posted during the rotation ends up in the store', async () => {
    const oldMaster = stack.master.current;
    const newMaster = randomBytes(32).toString('base64');
    const keyOf = (kind: KeyKind) =>
      keyText(serverKeys(parseMasterKey(JSON.stringify({ current: newMaster })), kind, SERVERS.a)[0] as Buffer);
    const options = stack.bed.a.spec.hostOptions!;
    let running = true;
    const flow = users.map(async (u, k) => {
      for (let i = 0; running; i++) {
        const room = `flow${k}-${i}@${DOMAINS.mucB}`;
        await u.join(room, `F${k}`);
        joined.push(`${u.jid} ${room}`);
      }
    });
    await sleep(600);
    const phases = [joined.length];
    // 1. ping-muc: the new master, the old one as previous (it accepts and signs with both keys;
    //    the master key file is re-read on every request here).
    Object.assign(stack.master, { current: newMaster, previous: oldMaster });
    stack.saveMasterKey();
    await sleep(600);
    phases.push(joined.length);
    // 2. Prosody: the new keys as host-keys prints them now, the old ones as previous.
    options.ping_muc_cloud_webhook_secret = keyOf('webhook');
    options.ping_muc_cloud_webhook_secret_previous = stack.bed.webhookSecret;
    options.ping_muc_cloud_api_secret = keyOf('stanza-api');
    options.ping_muc_cloud_api_secret_previous = stack.bed.apiSecret;
    await stack.bed.a.reloadConfig();
    await sleep(600);
    phases.push(joined.length);
    // 3. ping-muc: the previous master goes; 4. Prosody: the previous keys go.
    stack.master.previous = undefined;
    stack.saveMasterKey();
    delete options.ping_muc_cloud_webhook_secret_previous;
    delete options.ping_muc_cloud_api_secret_previous;
    await stack.bed.a.reloadConfig();
    await sleep(600);
    running = false;
    await Promise.all(flow);
    phases.push(joined.length);
    console.log(`[e2e] joins posted per rotation phase (cumulative): ${phases.join(', ')}`);
    for (let i = 1; i < phases.length; i++) expect(phases[i]!).toBeGreaterThan(phases[i - 1]!);

    const joins = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === joined.length, 15_000);
    expect(joins.map((j) => `${j.user} ${j.room}`).sort()).toEqual([...joined].sort());
    // Delivered as they happened: no 401, no resync (one epoch: the load's), no module reload.
    expect(stack.bed.a.log()).not.toMatch(/refused the signature|Event queue full|refused event/);
    expect(new Set(stack.events.events.map((e) => e.epoch)).size).toBe(1);
    // The tap records a batch once ping-muc's answer is back, just after the store has it.
    const tapped = () => stack.events.events.filter((e) => e.type === 'join').length;
    for (const deadline = Date.now() + 5000; tapped() < joined.length && Date.now() < deadline; ) await sleep(50);
    expect(tapped()).toBe(joined.length);
    expect(stack.serviceLog.filter((l) => /events refused/.test(l))).toEqual([]);
  }, 60_000);
});

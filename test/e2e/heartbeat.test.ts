// What every events request of mod_ping_muc_cloud carries besides its events: the
// `ping-muc-host` header, and a heartbeat event every ping_muc_cloud_heartbeat_interval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsReceiver } from './http';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

describe('heartbeat and ping-muc-host', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User;
  const heartbeats = () => rx.events.filter((e) => e.type === 'heartbeat');

  beforeAll(async () => {
    bed = await Testbed.create({ aSecondHost: true, aOptions: { ping_muc_cloud_heartbeat_interval: 1 } });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
  });

  afterAll(async () => {
    await bed?.stop();
    await alice?.stop();
    await rx?.close();
  });

  it('names on every request the VirtualHost all its events are of in ping-muc-host', async () => {
    await alice.join(`hb@${DOMAINS.mucB}`, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
    // a2.test signs with its own secret: this receiver refuses it (401), and it still names itself.
    const deadline = Date.now() + 5000;
    while (!rx.requests.some((r) => r.headers['ping-muc-host'] === DOMAINS.a2) && Date.now() < deadline)
      await sleep(50);
    expect(rx.requests.length).toBeGreaterThan(1);
    for (const r of rx.requests) {
      expect(r.headers['ping-muc-host']).toMatch(/^a2?\.test$/);
      for (const e of r.events) expect(e.host).toBe(r.headers['ping-muc-host']);
      if (r.headers['ping-muc-host'] === DOMAINS.a2) expect(r.status).toBe(401);
    }
    expect(rx.requests.filter((r) => r.status === 200).every((r) => r.headers['ping-muc-host'] === DOMAINS.a)).toBe(
      true,
    );
  });

  it('posts a heartbeat every ping_muc_cloud_heartbeat_interval seconds', async () => {
    const before = heartbeats().length;
    await sleep(3500);
    const got = heartbeats().slice(before);
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got.length).toBeLessThanOrEqual(5);
    for (const h of got) {
      expect(Object.keys(h).sort()).toEqual(['epoch', 'host', 'seq', 'type']);
      expect(h.epoch).toBeLessThan(h.seq);
      expect(h.host).toBe(DOMAINS.a);
      expect(Math.abs(h.seq / 1000 - Date.now())).toBeLessThan(60_000);
    }
  });

  it('keeps at most one heartbeat undelivered: none pile up while ping-muc is down', async () => {
    rx.answer = 503;
    const from = rx.requests.length;
    await sleep(3500);
    const failed = rx.requests.slice(from).filter((r) => r.status === 503 && r.headers['ping-muc-host'] === DOMAINS.a);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const r of failed) expect(r.events.filter((e) => e.type === 'heartbeat').length).toBeLessThanOrEqual(1);
    rx.answer = 200;
    const n = heartbeats().length;
    await rx.waitFor((e) => e.type === 'heartbeat' && heartbeats().indexOf(e) >= n, 8000);
  });

  it('logs a refused heartbeat once only (a ping-muc that does not know the type yet)', async () => {
    rx.refuse = (events) =>
      events.flatMap((e, index) =>
        e.type === 'heartbeat' ? [{ index, type: 'heartbeat', error: 'unknown type "heartbeat"' }] : [],
      );
    const from = rx.requests.length;
    await sleep(3500);
    const refused = rx.requests.slice(from).filter((r) => r.events.some((e) => e.type === 'heartbeat'));
    expect(refused.length).toBeGreaterThanOrEqual(2);
    const lines = bed.a
      .log()
      .split('\n')
      .filter((l) => /heartbeat/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/warn\tping-muc refused a heartbeat \(unknown type "heartbeat"\); further refused/);
    expect(bed.a.log()).not.toMatch(/error\tping-muc refused event \d+ \(heartbeat\)/);
    rx.refuse = () => [];
  });
});

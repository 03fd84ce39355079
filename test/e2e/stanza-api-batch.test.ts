// The structure of a batch: one answer per item in request order, per-item timeouts and
// refusals, the limits of a whole batch, its counters, and a batch in flight across a reload.
import { batch, items, kind, NS_BATCH, ping, VERSION } from './batch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, HTTP_PORT, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

const ROOM = `batch@${DOMAINS.mucB}`;
const MAX_ITEMS = 6;

describe('stanza API batches', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, eve: User;
  const users: User[] = [];
  const call = (body: string) => callApi(bed.apiUrl, bed.apiSecret, body);

  beforeAll(async () => {
    bed = await Testbed.create({
      aModules: ['ping_muc_cloud', 'http_openmetrics'],
      aOptions: {
        ping_muc_cloud_ping_timeout: 3, // room for a module reload while a batch waits
        ping_muc_cloud_max_inflight: 2,
        ping_muc_cloud_batch_max_items: MAX_ITEMS,
        openmetrics_allow_cidr: '127.0.0.0/8',
      },
    });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
    eve = await User.connect(bed.a, DOMAINS.a, 'eve');
    users.push(alice, eve);
    await alice.join(ROOM, 'Alice');
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all(users.map((u) => u.stop()));
    await rx?.close();
  });

  const since = () => Date.now();
  const unexpected = (u: User, t: number) => u.received.filter((r) => r.at > t).map((r) => r.el.toString());

  it('answers one item per request item in order', async () => {
    const t = since();
    const res = await callApi(
      bed.apiUrl,
      bed.apiSecret,
      batch([
        ping('joined', alice.jid, `${ROOM}/Alice`),
        ping('not-joined', alice.jid, `other@${DOMAINS.mucB}/Alice`),
        ping('other-occupant', alice.jid, `${ROOM}/Nobody`),
        ping('local-user', alice.jid, eve.jid),
        ping('no-session', `ghost@${DOMAINS.a}/phone`, `${ROOM}/Alice`),
        `<message id="chat" type="chat" from="${ROOM}/Alice" to="${alice.jid}"><body>hi</body></message>`,
      ]),
    );
    expect(res.status).toBe(200);
    const got = items(res.body);
    expect(got.map((i) => [i.id, kind(i.el)])).toEqual([
      ['joined', 'iq result'],
      ['not-joined', 'no-session'],
      ['other-occupant', 'no-session'],
      ['local-user', 'refused 403'],
      ['no-session', 'no-session'],
      ['chat', 'refused 403'],
    ]);
    // The reply relayed: jabber:client, our id, from the occupant pinged to the session.
    expect(got[0]!.el.attrs).toMatchObject({
      xmlns: 'jabber:client',
      id: 'joined',
      from: `${ROOM}/Alice`,
      to: alice.jid,
    });
    await sleep(300);
    expect(unexpected(alice, t)).toEqual([]);
    expect(unexpected(eve, t)).toEqual([]);
  });

  it('answers <timeout/> per item when no reply comes without leaking the late reply', async () => {
    const t = since();
    bed.b.pause();
    let res: { status: number; body: string };
    try {
      res = await call(
        batch([ping('slow', alice.jid, `${ROOM}/Alice`), ping('gone', `ghost@${DOMAINS.a}/x`, `${ROOM}/Alice`)]),
      );
    } finally {
      bed.b.resume();
    }
    expect(res.status).toBe(200);
    expect(items(res.body).map((i) => [i.id, kind(i.el)])).toEqual([
      ['slow', 'timeout'],
      ['gone', 'no-session'],
    ]);
    await sleep(1000);
    expect(unexpected(alice, t)).toEqual([]);
  });

  it('refuses with 503 the items over the in-flight limit rather than the batch', async () => {
    const res = await call(batch(['p1', 'p2', 'p3'].map((id) => ping(id, alice.jid, `${ROOM}/Alice`))));
    expect(res.status).toBe(200);
    expect(items(res.body).map((i) => [i.id, kind(i.el)])).toEqual([
      ['p1', 'iq result'],
      ['p2', 'iq result'],
      ['p3', 'refused 503'],
    ]);
  });

  it('refuses with 400 a whole batch it cannot read item by item', async () => {
    const one = (id: string) => ping(id, alice.jid, `${ROOM}/Alice`);
    const bad = [
      batch(Array.from({ length: MAX_ITEMS + 1 }, (_, i) => one(`k${i}`))),
      batch([one('dup'), one('dup')]),
      batch([`<iq type="get" from="${alice.jid}" to="${ROOM}/Alice"><ping xmlns="urn:xmpp:ping"/></iq>`]),
      batch([]),
      batch([one('t1'), 'text']),
      `<batch xmlns="${NS_BATCH}" version="${VERSION}">${one('cut')}`,
      `<batch xmlns="${NS_BATCH}" version="${VERSION}" extra="1">${one('attr')}</batch>`,
    ];
    for (const body of bad) {
      const res = await call(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
  });

  it('takes a batch up to 256 KiB (413 above)', async () => {
    const padded = (kib: number) => batch([' '.repeat(kib * 1024), ping('big', alice.jid, `${ROOM}/Alice`)]);
    const big = await call(padded(17));
    expect(big.status).toBe(200);
    expect(items(big.body).map((i) => [i.id, kind(i.el)])).toEqual([['big', 'iq result']]);
    expect((await call(padded(257))).status).toBe(413);
  });

  it('counts what it does with batches', async () => {
    const res = await fetch(`http://${bed.ip(1)}:${HTTP_PORT}/metrics`, { headers: { host: DOMAINS.a } });
    const text = await res.text();
    const value = (name: string) =>
      Number(
        new RegExp(`^prosody_mod_ping_muc_cloud__${name}(?:_total)?\\{host="${DOMAINS.a}"\\} (\\S+)`, 'm').exec(
          text,
        )?.[1],
      );
    expect(value('batch_requests')).toBe(4);
    expect(value('batch_items')).toBe(6 + 2 + 3 + 1);
    expect(value('batch_refused')).toBe(2 + 1);
    expect(value('pings_inflight')).toBe(0);
  });

  it('answers 503 to a batch in flight when the module unloads without leaking the late replies', async () => {
    const t = since();
    bed.b.pause();
    let res: { status: number; body: string };
    try {
      const pending = call(batch([ping('u1', alice.jid, `${ROOM}/Alice`), ping('u2', alice.jid, `${ROOM}/Alice`)]));
      await sleep(300);
      await bed.a.reloadModule('ping_muc_cloud', DOMAINS.a);
      res = await pending;
    } finally {
      bed.b.resume();
    }
    expect(res.status).toBe(503);
    await sleep(1000);
    expect(unexpected(alice, t).filter((s) => s.startsWith('<iq'))).toEqual([]);
    // The new instance serves batches.
    const again = await call(batch([ping('u3', alice.jid, `${ROOM}/Alice`)]));
    expect(items(again.body).map((i) => [i.id, kind(i.el)])).toEqual([['u3', 'iq result']]);
  });

  it('posts s2s-up when the links to B come back after a kill', async () => {
    await bed.b.kill();
    await rx.waitFor((e) => e.type === 's2s-close' && !!e.remotes?.includes(DOMAINS.mucB));
    const restartedUs = Date.now() * 1000;
    await bed.b.start();
    // Nothing else talks to B: a self-ping through the API opens the link again.
    await call(batch([ping('again', alice.jid, `${ROOM}/Alice`)]));
    // Both directions: our ping goes out on A's link, the reply comes in on B's.
    for (const direction of ['out', 'in']) {
      const up = await rx.waitFor(
        (e) =>
          e.type === 's2s-up' &&
          e.direction === direction &&
          e.seq > restartedUs &&
          !!e.remotes?.includes(DOMAINS.mucB),
      );
      expect(up).toMatchObject({ host: DOMAINS.a, remotes: [DOMAINS.mucB] });
      expect(Number.isInteger(up.seq)).toBe(true);
    }
  });
});

// The stanza API of mod_ping_muc_cloud against real servers and clients: the two allowed
// stanzas work, everything else is refused and reaches nobody, even with a valid signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKey, sign } from '../../lib/domain/signature';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, sleep, Testbed } from './testbed';
import { User } from './users';

const NS_API = 'urn:ping-muc:stanza-api:1';
const ROOM = `api@${DOMAINS.mucB}`;
const ping = (from: string, to: string, id = 'ping-1', extra = '') =>
  `<iq type="get" id="${id}" from="${from}" to="${to}"><ping xmlns="urn:xmpp:ping"/>${extra}</iq>`;
const notification = (from: string, to: string, x?: string) =>
  `<presence type="unavailable" id="n-1" from="${from}" to="${to}"><x xmlns="http://jabber.org/protocol/muc#user">${
    x ??
    '<item affiliation="none" role="none"><reason>Connection to remote server lost</reason></item><status code="110"/><status code="333"/>'
  }</x></presence>`;

describe('stanza API', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, eve: User;
  const users: User[] = [];
  const call = (body: string, headers?: Record<string, string>) => callApi(bed.apiUrl, bed.apiSecret, body, headers);

  beforeAll(async () => {
    bed = await Testbed.create({
      logLevel: 'debug',
      aOptions: { ping_muc_cloud_ping_timeout: 1, ping_muc_cloud_max_inflight: 2 },
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

  async function waitForLog(re: RegExp, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(bed.a.log())) {
      if (Date.now() > deadline) throw new Error(`A's log never matched ${re}`);
      await sleep(50);
    }
  }

  /** Stanzas a client got after the initial join, other than what `allowed` accepts. */
  function unexpected(u: User, since: number): string[] {
    return u.received.filter((r) => r.at > since).map((r) => r.el.toString());
  }

  it('self-pings as the connected user and returns the reply with our id, which the client never sees', async () => {
    const since = Date.now();
    const ok = await call(ping(alice.jid, `${ROOM}/Alice`, 'mine-1'));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/^<iq /);
    expect(ok.body).toMatch(/type=.result./);
    expect(ok.body).toMatch(/id=.mine-1./);
    expect(ok.body).toContain(`from='${ROOM}/Alice'`);
    // Another occupant's JID is not this session's own: refused, so a leaked secret cannot probe it.
    const probe = await call(ping(alice.jid, `${ROOM}/Nobody`, 'mine-2'));
    expect(probe).toEqual({ status: 200, body: `<no-session xmlns='${NS_API}'/>` });
    await sleep(300);
    expect(unexpected(alice, since)).toEqual([]);
  });

  it('answers <timeout/> when no reply comes in time, and swallows the late reply', async () => {
    const since = Date.now();
    bed.b.pause(); // B hangs with the link open: the ping goes out, no reply comes
    try {
      const res = await call(ping(alice.jid, `${ROOM}/Alice`, 'slow-1'));
      expect(res).toEqual({ status: 200, body: `<timeout xmlns='${NS_API}'/>` });
    } finally {
      bed.b.resume(); // now B answers, after the timeout
    }
    await waitForLog(/Swallowed a late self-ping reply/);
    await sleep(200);
    expect(unexpected(alice, since)).toEqual([]);
  });

  it('answers 503 above ping_muc_cloud_max_inflight', async () => {
    bed.b.pause();
    try {
      const answers = await Promise.all([1, 2, 3].map((i) => call(ping(alice.jid, `${ROOM}/Alice`, `busy-${i}`))));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 503]);
    } finally {
      bed.b.resume();
    }
    await sleep(300);
  });

  it('answers <no-session/> for a self-ping to a room the session is not in, and sends nothing', async () => {
    const res = await call(ping(alice.jid, `other@${DOMAINS.mucB}/Alice`));
    expect(res).toEqual({ status: 200, body: `<no-session xmlns='${NS_API}'/>` });
  });

  it('answers <no-session/> for a ping from a user who is not connected, and sends nothing', async () => {
    const res = await call(ping(`ghost@${DOMAINS.a}/phone`, `${ROOM}/Alice`));
    expect(res).toEqual({ status: 200, body: `<no-session xmlns='${NS_API}'/>` });
  });

  it('delivers the unavailable notification to that one session only', async () => {
    const since = Date.now();
    // The caller's reason is replaced by the server's own text.
    const forgedReason =
      '<item affiliation="none" role="none"><reason>Visit evil.example now</reason></item><status code="110"/><status code="333"/>';
    const res = await call(notification(`${ROOM}/Alice`, alice.jid, forgedReason));
    expect(res).toEqual({ status: 200, body: `<sent xmlns='${NS_API}'/>` });
    const got = await alice.waitFor((el) => el.name === 'presence' && el.attrs.type === 'unavailable', 5000);
    expect(got.el.attrs.from).toBe(`${ROOM}/Alice`);
    expect(got.el.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChild('item')?.getChildText('reason')).toBe(
      'Connection to remote server lost',
    );
    await sleep(200);
    expect(unexpected(eve, since)).toEqual([]);
    // The module forgot the join as it delivered: a self-ping now is no-session. It posts no
    // leave for it: the round knows from <sent/> (lib/app/pass.ts, above notifyUnjoined).
    expect(await call(ping(alice.jid, `${ROOM}/Alice`))).toEqual({
      status: 200,
      body: `<no-session xmlns='${NS_API}'/>`,
    });
    expect(rx.events.filter((e) => e.type === 'leave' && e.user === alice.jid)).toEqual([]);
    await alice.join(ROOM, 'Alice'); // back in for the next tests
    await sleep(100);
  });

  describe('refuses forged calls, and nothing reaches any client', () => {
    let since = 0;
    beforeAll(() => {
      since = Date.now();
    });

    it('bad, missing, stale or replayed signatures: 401', async () => {
      const body = ping(alice.jid, `${ROOM}/Alice`);
      const wrongKey = sign(secretKey(`whsec_${Buffer.alloc(32, 7).toString('base64')}`), body);
      expect((await call(body, { ...wrongKey })).status).toBe(401);
      expect((await call(body, {})).status).toBe(401);
      const stale = sign(secretKey(bed.apiSecret), body, Math.floor(Date.now() / 1000) - 600);
      expect((await call(body, { ...stale })).status).toBe(401);
      const once = sign(secretKey(bed.apiSecret), body);
      expect((await call(body, { ...once })).status).toBe(200);
      expect((await call(body, { ...once })).status).toBe(401); // replay
      const tampered = sign(secretKey(bed.apiSecret), body);
      expect((await call(body.replace('Alice', 'Alicf'), { ...tampered })).status).toBe(401);
    });

    it('a chat message, even to a connected user: 403', async () => {
      const res = await call(`<message type="chat" from="${ROOM}/Alice" to="${alice.jid}"><body>hi</body></message>`);
      expect(res.status).toBe(403);
      const asUser = await call(`<message type="chat" from="${alice.jid}" to="${eve.jid}"><body>hi</body></message>`);
      expect(asUser.status).toBe(403);
    });

    it('other IQs, other namespaces, foreign or local hosts: 403', async () => {
      const cases = [
        `<iq type="get" id="x" from="${alice.jid}" to="${ROOM}/Alice"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
        `<iq type="set" id="x" from="${alice.jid}" to="${ROOM}/Alice"><ping xmlns="urn:xmpp:ping"/></iq>`,
        ping(alice.jid, `${ROOM}/Alice`, 'x', '<body xmlns="jabber:client">hi</body>'),
        ping(`slow@${DOMAINS.b}/e2e`, `${ROOM}/Alice`), // from a host the API does not serve
        ping(alice.jid, eve.jid), // to a local user, not a room occupant
        ping(alice.jid, ROOM), // to a bare room
        ping(`alice@${DOMAINS.a}`, `${ROOM}/Alice`), // from a bare JID
        `<iq xmlns="jabber:server" type="get" id="x" from="${alice.jid}" to="${ROOM}/Alice"><ping xmlns="urn:xmpp:ping"/></iq>`,
        `<presence from="${ROOM}/Alice" to="${alice.jid}"><x xmlns="http://jabber.org/protocol/muc#user"><status code="110"/></x></presence>`,
        notification(`${ROOM}/Alice`, alice.jid, '<item affiliation="none" role="none"/><status code="110"/>'),
        notification(
          `${ROOM}/Alice`,
          alice.jid,
          '<item affiliation="owner" role="moderator"/><status code="110"/><status code="333"/>',
        ),
        notification(
          `${ROOM}/Alice`,
          alice.jid,
          '<item affiliation="none" role="none"><reason>x</reason><body>y</body></item><status code="110"/><status code="333"/>',
        ),
        notification(
          `${ROOM}/Alice`,
          alice.jid,
          '<item affiliation="none" role="none"/><status code="110"/><status code="333"/><status code="307"/>',
        ),
        notification(`${ROOM}/Alice`, `alice@${DOMAINS.b}/e2e`), // to a foreign host
        notification(`someone@${DOMAINS.a}/x`, alice.jid), // from a local user
        `<presence type="unavailable" from="${ROOM}/Alice" to="${alice.jid}"><x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="none"/><status code="110"/><status code="333"/></x><status>bye</status></presence>`,
      ];
      for (const body of cases) {
        const res = await call(body);
        expect({ body, status: res.status }).toEqual({ body, status: 403 });
      }
    });

    it('a notification for a room or nick the session is not in: <no-session/>', async () => {
      for (const from of [`other@${DOMAINS.mucB}/Alice`, `${ROOM}/NotMe`]) {
        expect((await call(notification(from, alice.jid))).body).toBe(`<no-session xmlns='${NS_API}'/>`);
      }
      expect((await call(notification(`${ROOM}/Alice`, `ghost@${DOMAINS.a}/phone`))).body).toBe(
        `<no-session xmlns='${NS_API}'/>`,
      );
    });

    it('malformed XML, DOCTYPE, entities, comments, two stanzas: 400; over 16 KiB: 413', async () => {
      const bad = [
        '<iq',
        'not xml',
        `<!DOCTYPE iq [<!ENTITY x "y">]>${ping(alice.jid, `${ROOM}/Alice`)}`,
        `<?xml version="1.0"?>${ping(alice.jid, `${ROOM}/Alice`)}`,
        ping(alice.jid, `${ROOM}/Alice`, 'x', '<!-- c -->'),
        ping(alice.jid, `${ROOM}/Alice`, '&xxe;'),
        ping(alice.jid, `${ROOM}/Alice`) + ping(alice.jid, `${ROOM}/Alice`),
      ];
      for (const body of bad) {
        const res = await call(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
      }
      const big = ping(alice.jid, `${ROOM}/Alice`, 'x'.repeat(17 * 1024));
      expect((await call(big)).status).toBe(413);
    });

    it('nothing reached alice or eve', async () => {
      await sleep(300);
      expect(unexpected(alice, since)).toEqual([]);
      expect(unexpected(eve, since)).toEqual([]);
    });
  });
});

// The stanza API of mod_ping_muc_cloud against real servers and clients: one protocol, a
// `<batch version="3">` of items; a self-ping and the notification of a join (by its `since`)
// work, everything else is refused and reaches nobody, even with a valid signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKey, sign } from '../../lib/domain/signature';
import {
  batch,
  expectUnsupported,
  items,
  kinds,
  NS_BATCH,
  NS_MUC_USER,
  notify,
  only,
  ping,
  unavailable,
  VERSION,
} from './batch';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

const ROOM = `api@${DOMAINS.mucB}`;
const REASON = 'Connection to remote server lost';

describe('stanza API', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, eve: User;
  const users: User[] = [];
  const call = (body: string, headers?: Record<string, string>) => callApi(bed.apiUrl, bed.apiSecret, body, headers);
  /** Alice's current join of ROOM, by its identity. */
  const aliceSince = () => rx.joinSince(alice.jid, ROOM);

  beforeAll(async () => {
    bed = await Testbed.create({ aOptions: { ping_muc_cloud_ping_timeout: 1 } });
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

  /** Stanzas a client got after `since` (ms). */
  function unexpected(u: User, since: number): string[] {
    return u.received.filter((r) => r.at > since).map((r) => r.el.toString());
  }

  it('refuses with 400 <unsupported-version supported="3"/> a body that is not a batch of version 3', async () => {
    const t = Date.now();
    const iq = ping('v-1', alice.jid, `${ROOM}/Alice`);
    const note = unavailable(`${ROOM}/Alice`, alice.jid);
    const bodies = [
      iq, // a single stanza
      note,
      `<batch xmlns="${NS_BATCH}">${iq}</batch>`, // no version
      `<batch xmlns="${NS_BATCH}" version="2">${iq}</batch>`,
      `<batch xmlns="${NS_BATCH}" version="4">${iq}</batch>`,
      `<batch xmlns="${NS_BATCH}" version="">${iq}</batch>`,
      `<batch xmlns="urn:example:other" version="${VERSION}">${iq}</batch>`,
      `<batch xmlns="${NS_BATCH}">${notify('n', aliceSince(), note)}</batch>`,
    ];
    for (const body of bodies) {
      const res = await callApi(bed.apiUrl, bed.apiSecret, body);
      expect(res.status, body).toBe(400);
      expectUnsupported(res);
    }
    await sleep(300);
    expect(unexpected(alice, t)).toEqual([]);
    expect(alice.notifications()).toEqual([]);
  });

  it('self-pings as the connected user without the client seeing it', async () => {
    const t = Date.now();
    const res = await call(
      batch([ping('mine-1', alice.jid, `${ROOM}/Alice`), ping('mine-2', alice.jid, `${ROOM}/Nobody`)]),
    );
    expect(res.status).toBe(200);
    const got = items(res.body);
    expect(got.map((i) => [i.id, i.el.name])).toEqual([
      ['mine-1', 'iq'],
      ['mine-2', 'no-session'],
    ]);
    expect(got[0]!.el.attrs).toMatchObject({ type: 'result', id: 'mine-1', from: `${ROOM}/Alice`, to: alice.jid });
    // Another occupant's JID is not this session's own (mine-2): a leaked secret cannot probe it.
    await sleep(300);
    expect(unexpected(alice, t)).toEqual([]);
  });

  it('answers <no-session/> to a self-ping outside a live join', async () => {
    const res = await call(
      batch([
        ping('other-room', alice.jid, `other@${DOMAINS.mucB}/Alice`),
        ping('offline', `ghost@${DOMAINS.a}/phone`, `${ROOM}/Alice`),
      ]),
    );
    expect(kinds(res.body)).toEqual([
      ['other-room', 'no-session'],
      ['offline', 'no-session'],
    ]);
  });

  describe('refuses forged calls, and nothing reaches any client', () => {
    let since = 0;
    beforeAll(() => {
      since = Date.now();
    });

    it('refuses with 401 any signature but a fresh valid one', async () => {
      const body = batch([ping('s', alice.jid, `${ROOM}/Alice`)]);
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

    it('refuses with 403 per item any stanza it does not send', async () => {
      const s = aliceSince();
      const note = (x?: string, from = `${ROOM}/Alice`, to = alice.jid) =>
        notify('x', s, unavailable(from, to, 'n-x', x));
      const cases = [
        `<message id="x" type="chat" from="${ROOM}/Alice" to="${alice.jid}"><body>hi</body></message>`,
        `<message id="x" type="chat" from="${alice.jid}" to="${eve.jid}"><body>hi</body></message>`,
        `<iq type="get" id="x" from="${alice.jid}" to="${ROOM}/Alice"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
        ping('x', alice.jid, `${ROOM}/Alice`, 'set'),
        ping('x', alice.jid, `${ROOM}/Alice`, 'get', '<body xmlns="jabber:client">hi</body>'),
        ping('x', `slow@${DOMAINS.b}/e2e`, `${ROOM}/Alice`), // from a host the API does not serve
        ping('x', alice.jid, eve.jid), // to a local user, not a room occupant
        ping('x', alice.jid, ROOM), // to a bare room
        ping('x', `alice@${DOMAINS.a}`, `${ROOM}/Alice`), // from a bare JID
        `<iq xmlns="jabber:server" type="get" id="x" from="${alice.jid}" to="${ROOM}/Alice"><ping xmlns="urn:xmpp:ping"/></iq>`,
        // The notification only inside a <notify since>: a bare presence item is refused.
        unavailable(`${ROOM}/Alice`, alice.jid, 'x'),
        notify(
          'x',
          s,
          `<presence from="${ROOM}/Alice" to="${alice.jid}"><x xmlns="${NS_MUC_USER}"><status code="110"/></x></presence>`,
        ),
        note('<item affiliation="none" role="none"/><status code="110"/>'),
        note('<item affiliation="owner" role="moderator"/><status code="110"/><status code="333"/>'),
        note(
          '<item affiliation="none" role="none"><reason>x</reason><body>y</body></item><status code="110"/><status code="333"/>',
        ),
        note('<item affiliation="none" role="none"/><status code="110"/><status code="333"/><status code="307"/>'),
        note(undefined, `${ROOM}/Alice`, `alice@${DOMAINS.b}/e2e`), // to a foreign host
        note(undefined, `someone@${DOMAINS.a}/x`), // from a local user
        notify(
          'x',
          s,
          `<presence type="unavailable" from="${ROOM}/Alice" to="${alice.jid}"><x xmlns="${NS_MUC_USER}"><item affiliation="none" role="none"/><status code="110"/><status code="333"/></x><status>bye</status></presence>`,
        ),
        notify('x', s, ping('x', alice.jid, `${ROOM}/Alice`)), // a notify holds a presence
      ];
      for (const item of cases) {
        const res = await call(batch([item.replace(/id="x"/, 'id="case"')]));
        expect({ item, status: res.status }).toEqual({ item, status: 200 });
        expect({ item, answer: kinds(res.body) }).toEqual({ item, answer: [['case', 'refused 403']] });
      }
    });

    it('a notify without a valid since: refused 400 per item', async () => {
      const note = unavailable(`${ROOM}/Alice`, alice.jid, 'n-s');
      const res = await call(
        batch([
          `<notify xmlns="${NS_BATCH}" id="none">${note}</notify>`,
          notify('empty', '', note),
          notify('negative', -1, note),
          notify('fraction', '1.5', note),
          notify('hex', '0x10', note),
          notify('long', '1'.repeat(17), note),
          notify('word', 'yesterday', note),
        ]),
      );
      expect(kinds(res.body)).toEqual(
        ['none', 'empty', 'negative', 'fraction', 'hex', 'long', 'word'].map((id) => [id, 'refused 400']),
      );
    });

    it('answers <no-session/> to a notification outside a live join', async () => {
      const s = aliceSince();
      const res = await call(
        batch([
          notify('room', s, unavailable(`other@${DOMAINS.mucB}/Alice`, alice.jid)),
          notify('nick', s, unavailable(`${ROOM}/NotMe`, alice.jid)),
          notify('session', s, unavailable(`${ROOM}/Alice`, `ghost@${DOMAINS.a}/phone`)),
          notify('older', s - 1, unavailable(`${ROOM}/Alice`, alice.jid)),
          notify('newer', s + 1, unavailable(`${ROOM}/Alice`, alice.jid)),
          notify('zero', 0, unavailable(`${ROOM}/Alice`, alice.jid)),
        ]),
      );
      expect(kinds(res.body)).toEqual(
        ['room', 'nick', 'session', 'older', 'newer', 'zero'].map((id) => [id, 'no-session']),
      );
    });

    it('refuses with 400 any body that is not plain well-formed XML', async () => {
      const one = ping('x', alice.jid, `${ROOM}/Alice`);
      const bad = [
        '<batch',
        'not xml',
        `<!DOCTYPE batch [<!ENTITY x "y">]>${batch([one])}`,
        `<?xml version="1.0"?>${batch([one])}`,
        batch([ping('x', alice.jid, `${ROOM}/Alice`, 'get', '<!-- c -->')]),
        batch([ping('x', alice.jid, `${ROOM}/Alice`, 'get', '&xxe;')]),
        batch([one]) + batch([one]),
      ];
      for (const body of bad) {
        const res = await call(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
      }
    });

    it('nothing reached alice or eve', async () => {
      await sleep(300);
      expect(unexpected(alice, since)).toEqual([]);
      expect(unexpected(eve, since)).toEqual([]);
    });
  });

  it('delivers the notification of the current join with the server’s reason to that one session only', async () => {
    const t = Date.now();
    // The caller's reason is replaced by the server's own text.
    const forgedReason =
      '<item affiliation="none" role="none"><reason>Visit evil.example now</reason></item><status code="110"/><status code="333"/>';
    const res = await call(
      batch([notify('n', aliceSince(), unavailable(`${ROOM}/Alice`, alice.jid, 'n-1', forgedReason))]),
    );
    expect(only(res)).toBe('sent');
    const got = await alice.waitFor((el) => el.name === 'presence' && el.attrs.type === 'unavailable', 5000);
    expect(got.el.attrs.from).toBe(`${ROOM}/Alice`);
    expect(got.el.getChild('x', NS_MUC_USER)?.getChild('item')?.getChildText('reason')).toBe(REASON);
    await sleep(200);
    expect(unexpected(eve, t)).toEqual([]);
    // The module forgot the join as it delivered: a self-ping now is no-session. It posts no
    // leave for it: the round knows from <sent/> (lib/app/pass.ts, above notifyUnjoined).
    expect(only(await call(batch([ping('after', alice.jid, `${ROOM}/Alice`)])))).toBe('no-session');
    expect(rx.events.filter((e) => e.type === 'leave' && e.user === alice.jid)).toEqual([]);
  });
});

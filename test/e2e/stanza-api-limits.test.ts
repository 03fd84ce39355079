// What the stanza API relays of a self-ping reply, how a heal reads a malformed one, how it
// refuses bodies it will not read, and the counters it and the event queue keep for an
// OpenMetrics exporter.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { batch, heal, items, kind, only, ping as pingItem } from './batch';
import { callApi, EventsReceiver } from './http';
import { DOMAINS, HTTP_PORT, sleep, Testbed } from '../../harness/testbed';
import { isNotification, User } from '../../harness/users';

const BIG = 'x'.repeat(64 * 1024);
const S = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** Sends raw bytes to A's HTTP port; resolves with what came back within `waitMs` ('' if the socket closed silently). */
function raw(bed: Testbed, head: string, body: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: bed.ip(1), port: HTTP_PORT });
    let got = '';
    const done = () => {
      s.destroy();
      resolve(got);
    };
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('close', done);
    s.on('error', done);
    s.setTimeout(waitMs, done);
    s.write(head + body);
  });
}

describe('stanza API limits', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, bob: User;
  // bob is a user of B that looks like a room to alice: alice sent him presence, he reflects
  // it with status 110, so the module tracks `bob@b.test` as a room with nick `e2e`.
  const occupant = () => bob.jid;
  const room = () => bob.jid.split('/')[0]!;
  /** What bob answers a ping with: a result's child, or an <error/>. */
  let reply = () => xml('padding', { xmlns: 'urn:example:padding' }, BIG);

  beforeAll(async () => {
    bed = await Testbed.create({
      aModules: ['ping_muc_cloud', 'http_openmetrics'],
      aOptions: { openmetrics_allow_cidr: '127.0.0.0/8' },
    });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
    bob = await User.connect(bed.b, DOMAINS.b, 'bob');
    bob.answerPings(() => reply());
    await alice.send(xml('presence', { to: occupant() }));
    await bob.waitFor((el) => el.name === 'presence' && el.attrs.from === alice.jid);
    await bob.send(
      xml(
        'presence',
        { to: alice.jid },
        xml('x', { xmlns: 'http://jabber.org/protocol/muc#user' }, xml('status', { code: '110' })),
      ),
    );
    await rx.waitFor((e) => e.type === 'join' && e.user === alice.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all([alice, bob].map((u) => u?.stop()));
    await rx?.close();
  });

  const ping = (id: string) => callApi(bed.apiUrl, bed.apiSecret, batch([pingItem(id, alice.jid, occupant())]));

  it('relays only the addressing of a 64 KiB result', async () => {
    const res = await ping('big-1');
    expect(res.status).toBe(200);
    expect(res.body.length).toBeLessThan(640);
    const [answer] = items(res.body);
    expect(answer!.el.toString()).not.toContain('padding');
    expect(answer!.el.attrs).toEqual({
      xmlns: 'jabber:client',
      type: 'result',
      id: 'big-1',
      from: occupant(),
      to: alice.jid,
    });
    expect(answer!.el.children).toEqual([]);
  });

  it('relays a malformed error to a heal for the round to read as a bad answer (module M1)', async () => {
    const since = rx.joinSince(alice.jid, room());
    const malformed = [
      // Two <text/> before the condition: item-not-found by the room would say "nick changed".
      xml(
        'error',
        { type: 'cancel', by: room() },
        xml('text', { xmlns: S }, 'a'),
        xml('text', { xmlns: S }, 'b'),
        xml('item-not-found', { xmlns: S }),
      ),
      xml('error', { type: 'cancel', by: room() }), // no condition
      xml('error', { type: 'cancel', by: room() }, xml('text', { xmlns: S }, 'only a text')),
      xml('error', { type: 'cancel', by: room() }, xml('not-acceptable', { xmlns: S }), xml('forbidden', { xmlns: S })), // two
    ];
    for (const [i, error] of malformed.entries()) {
      reply = () => error;
      const res = await callApi(
        bed.apiUrl,
        bed.apiSecret,
        batch([heal(`m${i}`, since, pingItem(`pm${i}`, alice.jid, occupant()))]),
      );
      expect({ error: error.toString(), answer: only(res) }).toEqual({ error: error.toString(), answer: 'iq error' });
    }
    await sleep(300);
    expect(alice.notifications()).toEqual([]);
    // A well-formed "not an occupant" by the room is acted on: the same path tells alice, once.
    reply = () => xml('error', { type: 'cancel', by: room() }, xml('not-acceptable', { xmlns: S }));
    const res = await callApi(
      bed.apiUrl,
      bed.apiSecret,
      batch([heal('ok', since, pingItem('p-ok', alice.jid, occupant()))]),
    );
    expect(kind(items(res.body)[0]!.el)).toBe('sent');
    await alice.waitFor(isNotification, 5000);
    await sleep(300);
    expect(alice.notifications()).toHaveLength(1);
  });

  it('refuses a body over the global limit with 413 before reading it (not a silent close)', async () => {
    const head = `POST /ping_muc_cloud/stanza HTTP/1.1\r\nHost: ${DOMAINS.a}\r\nContent-Type: application/xml\r\nContent-Length: ${20 * 1024 * 1024}\r\n\r\n`;
    const got = await raw(bed, head, 'x'.repeat(1024));
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('counts what it posts for an OpenMetrics exporter', async () => {
    await sleep(200);
    const res = await fetch(`http://${bed.ip(1)}:${HTTP_PORT}/metrics`, { headers: { host: DOMAINS.a } });
    const text = await res.text();
    expect(res.status).toBe(200);
    const value = (name: string) =>
      Number(
        new RegExp(`^prosody_mod_ping_muc_cloud__${name}(?:_total)?\\{host="${DOMAINS.a}"\\} (\\S+)`, 'm').exec(
          text,
        )?.[1],
      );
    expect(value('events_queued')).toBeGreaterThanOrEqual(2); // the link's s2s-up, the join
    expect(value('events_sent')).toBeGreaterThanOrEqual(2);
    expect(value('events_dropped')).toBe(0);
    expect(value('api_refused')).toBeGreaterThanOrEqual(1); // the 413
    expect(value('pings_inflight')).toBe(0);
  });
});

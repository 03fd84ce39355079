// A heal whose self-ping finds the s2s link to the room reconnecting with its send queue full
// (Prosody 13's s2s_send_queue_size; 0.12's queue has no bound): the server drops the stanza
// (13 makes up a resource-constraint error that finds no session to go to), so the heal answers
// <timeout/> and nobody is told. A link error of our own server says nothing about the room.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch, heal, kinds, ping } from './batch';
import { callApi, EventsReceiver } from './http';
import { prosodyVersion } from '../../harness/prosody-version';
import { DOMAINS, sleep, Testbed } from '../../harness/testbed';
import { User } from '../../harness/users';

const ROOM = `sq@${DOMAINS.mucB}`;

describe('a heal on a link whose s2s send queue is full', () => {
  let bed: Testbed;
  let rx: EventsReceiver;
  let alice: User, bob: User;

  beforeAll(async () => {
    bed = await Testbed.create({
      aOptions: { ping_muc_cloud_ping_timeout: 3 },
      aGlobalOptions: { s2s_send_queue_size: 1 },
    });
    rx = new EventsReceiver(bed.webhookSecret);
    await rx.start();
    await bed.start(rx.url);
    alice = await User.connect(bed.a, DOMAINS.a, 'alice');
    bob = await User.connect(bed.a, DOMAINS.a, 'bob');
    await alice.join(ROOM, 'Alice');
    await bob.join(ROOM, 'Bob');
    await rx.waitFor((e) => e.type === 'join' && e.user === bob.jid);
  });

  afterAll(async () => {
    await bed?.stop();
    await Promise.all([alice?.stop(), bob?.stop()]);
    await rx?.close();
  });

  it('tells nobody since both users are in the room whatever became of the pings', async () => {
    await bed.a.shell('s2s', 'close', DOMAINS.a, DOMAINS.mucB);
    await rx.waitFor((e) => e.type === 's2s-close');
    await sleep(300);
    // Two pings at once on the link being opened again: the second finds the queue full.
    const res = await callApi(
      bed.apiUrl,
      bed.apiSecret,
      batch([
        heal('ha', rx.joinSince(alice.jid, ROOM), ping('pa', alice.jid, `${ROOM}/Alice`)),
        heal('hb', rx.joinSince(bob.jid, ROOM), ping('pb', bob.jid, `${ROOM}/Bob`)),
      ]),
    );
    expect(res.status).toBe(200);
    console.log(`[e2e] ${prosodyVersion()}: heals on a reconnecting link: ${JSON.stringify(kinds(res.body))}`);
    if (prosodyVersion() === '13') expect(kinds(res.body).map(([, answer]) => answer)).toContain('timeout'); // the premise
    for (const [id, answer] of kinds(res.body)) expect({ id, answer }).not.toEqual({ id, answer: 'sent' });
    await sleep(500);
    expect([...alice.notifications(), ...bob.notifications()]).toEqual([]);
  });
});

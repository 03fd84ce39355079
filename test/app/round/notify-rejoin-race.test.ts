// Correctness H5 (regression): a user who rejoins under the same nick as the self-ping's reply
// comes back, before the store hears of the rejoin, is never told it left. Every heal and every
// notification names the join's identity (since); the module (modelled by FakeStanzaApi, as
// prosody/mod_ping_muc_cloud checks it) acts only on the session's current join of that identity.
import { expect, it } from 'vitest';
import { closeLink, drive, type ModuleJoin, replyFor, roomOf, roundWorld, seedJoins } from '../../support/fakes';

for (const mode of ['heal', 'the round notifies on its last pass after timeouts'] as const) {
  it(`${mode}: a user who rejoined before the store heard of it is not told it left`, async () => {
    const heal = mode === 'heal';
    const w = roundWorld({ PING_MUC_RECHECKS: heal ? '3' : '0' });
    const [ghost] = await seedJoins(w, 1);
    const stored = w.store.allJoins()[0]!;
    // The module's own join table: it learns of the rejoin at once, the store only later.
    const moduleJoins = new Map<string, ModuleJoin>([
      [`${stored.user} ${stored.room}`, { nick: stored.nick, since: stored.seq }],
    ]);
    w.api.joinOf = (user, room) => moduleJoins.get(`${user} ${room}`);
    await closeLink(w);
    let rejoined = 0;
    // The self-ping goes while the user is out of the room; as its reply comes back the client
    // rejoins under the same nick: a new join, a new identity.
    w.api.selfPing = async ({ user, occupant }) => {
      w.api.pings.push({ at: w.clock.now(), user, occupant });
      moduleJoins.set(`${user} ${roomOf(occupant)}`, { nick: stored.nick, since: stored.seq + 1000 });
      rejoined++;
      return replyFor(heal ? 'not-acceptable' : 'timeout', user, occupant);
    };
    await drive(w);
    expect(rejoined).toBe(1);
    expect(w.api.notifications).toEqual([]); // the rejoined user was not told
    expect(w.store.allRounds()[0]!.state).toBe('done');
    void ghost;
  });
}

for (const [by, rechecks] of [
  ['the heal', '3'],
  ['the round', '0'],
] as const) {
  it(`control: without the rejoin the ghost is told once by ${by}`, async () => {
    const w = roundWorld({ PING_MUC_RECHECKS: rechecks });
    const [ghost] = await seedJoins(w, 1);
    w.api.answers.set(ghost!.occupant, rechecks === '3' ? 'not-acceptable' : 'timeout');
    await closeLink(w);
    await drive(w);
    expect(w.api.notifications.map((n) => n.occupant)).toEqual([ghost!.occupant]);
    expect(w.api.notifications[0]!.since).toBe(w.store.allJoins()[0]!.seq);
  });
}

// npm run demo: ping-muc healing a MUC ghost on real servers, narrated, in ~15 seconds.
//
// Starts two Prosody servers joined by s2s (A: users + mod_ping_muc_cloud, B: a MUC),
// the ping-muc local service, and two real XMPP clients; then kill -9's B and shows
// what each client receives.
import type { Element } from 'ltx';
import { Stack } from './stack';
import { DOMAINS } from '../../harness/testbed';
import { isNotification, type User } from '../../harness/users';

// Node 20 here on purpose (Lambda runs 22): the AWS SDK's notice about its future floor is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOM = `lounge@${DOMAINS.mucB}`;
const DELAY_SECONDS = 3;
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
const say = (text: string) => console.log(`${stamp()}  ${text}`);

function short(el: Element): string {
  const s = el.toString().replace(/<occupant-id[^>]*\/>/g, '');
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function serviceLine(line: string): void {
  let msg = line;
  try {
    const j = JSON.parse(line) as { message?: string; msg?: string; level?: string };
    msg = [j.level, j.message ?? j.msg].filter(Boolean).join(' ') || line;
  } catch {
    /* plain text */
  }
  if (/round|notif|close|ping/i.test(msg)) console.log(`${stamp()}     ping-muc │ ${msg}`);
}

async function main(): Promise<void> {
  say(
    'Starting Prosody A (a.test, users, mod_ping_muc_cloud) and B (muc.b.test) on loopback, and the ping-muc local service',
  );
  const stack = await Stack.start({
    delaySeconds: DELAY_SECONDS,
    rechecks: 1,
    recheckBaseSeconds: 1,
    log: serviceLine,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    say('Stopping everything (servers by PID, clients, ping-muc)');
    await stack.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    say(
      `  A: ${stack.bed.a.ip}  B: ${stack.bed.b.ip}  stanza API: ${stack.bed.apiUrl}  events: ${stack.service.eventsUrl}`,
    );
    const [alice, bob] = await Promise.all([stack.user('alice', 'laptop'), stack.user('bob', 'phone')]);
    say(`Connected ${alice.jid} and ${bob.jid} (real XMPP clients)`);
    await alice.join(ROOM, 'Alice');
    await bob.join(ROOM, 'Bob');
    say(`Both joined ${ROOM} over s2s; A reported the joins to ping-muc:`);
    const joins = await stack.waitForJoins(DOMAINS.mucB, (j) => j.length === 2);
    for (const j of joins) say(`    store: ${j.user} in ${j.room} as ${j.nick}`);

    say('kill -9 B: its MUC loses every occupant; A sees the s2s link close');
    const killedAt = Date.now();
    await stack.bed.b.kill();
    await stack.bed.b.start();
    say('B restarted (empty rooms). The clients still believe they are in the room: ghosts.');
    await stack.events.waitFor((e) => e.type === 's2s-close');
    for (const e of stack.events.events.filter((x) => x.type === 's2s-close')) {
      say(`    event: s2s-close ${e.direction} ${JSON.stringify(e.remotes)}`);
    }
    say(
      `ping-muc waits ${DELAY_SECONDS} s (the delay), then self-pings each join through A's stanza API, as heals in a batch: A notifies a ghost itself as its reply comes…`,
    );

    const results = await Promise.all(
      [alice, bob].map(async (u: User) => {
        const got = await u.waitFor(isNotification, 30_000);
        return { u, got };
      }),
    );
    for (const p of stack.api.pings()) {
      const told = p.via === 'heal' && p.answer.includes('<sent ') ? ' (not joined: A told the session itself)' : '';
      say(
        `    ${p.via === 'heal' ? 'heal' : 'self-ping'} ${p.from} -> ${p.to}: ${p.answer.match(/<error.*<\/error>/)?.[0] ?? p.answer}${told}`,
      );
    }
    for (const { u, got } of results) {
      say(`${u.jid} received, ${got.at - killedAt} ms after kill -9 (delay ${DELAY_SECONDS * 1000} ms):`);
      console.log(`          ${short(got.el)}`);
    }
    say('The clients see item none/none with status 110 + 333: they know they left, and rejoin.');
    const rejoinedAt = Date.now() * 1000;
    await alice.join(ROOM, 'Alice');
    say(`${alice.jid} rejoined ${ROOM}: a new join, posted again by A.`);
    // The store keeps bob's told join (A posts no leave for it) until a later round drops it.
    const now = await stack.waitForJoins(DOMAINS.mucB, (j) =>
      j.some((x) => x.user === alice.jid && x.seq > rejoinedAt),
    );
    say(
      `Store now: ${now.map((j) => `${j.user} as ${j.nick}${j.seq > rejoinedAt ? ' (rejoined)' : ' (told)'}`).join(', ')}`,
    );
  } finally {
    await stop();
  }
  say('Done.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

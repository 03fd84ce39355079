// No host registry: the environment is the one entry and serves every host, as before; the
// ping-muc-host header is optional, and a previous webhook key is accepted while it is set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKey, sign } from '../../../lib/domain/signature';
import { nextSeq, postEvents, postRaw } from '../../support/events';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../../support/service';

const PREVIOUS = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const OTHER = `whsec_${Buffer.alloc(32, 8).toString('base64')}`;
const joinOf = (host: string, nick: string) => ({
  type: 'join',
  seq: nextSeq(),
  host,
  user: `${nick}@${host}/r`,
  room: `lobby@muc.b.example`,
  nick,
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ PING_MUC_WEBHOOK_SECRET_PREVIOUS: PREVIOUS });
});
afterAll(async () => {
  await h.close();
});

describe('the single-host setup', () => {
  it('takes any host’s events without the header under the current or the previous key', async () => {
    expect((await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [joinOf('a.example', 'ann')])).status).toBe(200);
    expect((await postEvents(h.service.eventsUrl, PREVIOUS, [joinOf('z.example', 'zoe')])).status).toBe(200);
    expect((await postEvents(h.service.eventsUrl, OTHER, [joinOf('a.example', 'eve')])).status).toBe(401);
    expect((await h.joins('z.example', 'muc.b.example')).map((j) => j.nick)).toEqual(['zoe']);
  });

  it('applies only the events of the host the header names', async () => {
    const body = JSON.stringify({ v: 1, events: [joinOf('a.example', 'amy'), joinOf('z.example', 'zed')] });
    const res = await postRaw(h.service.eventsUrl, body, {
      ...sign(secretKey(WEBHOOK_SECRET), body),
      'ping-muc-host': 'A.Example.',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ applied: 1, refused: [{ index: 1, type: 'join' }] });
  });

  it('stores only the host’s last beat for a heartbeat', async () => {
    const before = await h.snapshot();
    const logged = h.logs.length;
    const res = await postEvents(h.service.eventsUrl, WEBHOOK_SECRET, [
      { type: 'heartbeat', seq: nextSeq(), host: 'a.example' },
    ]);
    expect(res.body).toEqual({ ok: true, applied: 1 });
    const after = (await h.snapshot()).filter((item) => !before.includes(item));
    // The host's beat, and nothing else (no replay marker).
    expect(after).toHaveLength(1);
    expect(after[0]).toContain('"B#"');
    expect(h.logs.slice(logged).filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('reads an IDN host in the header by its A-labels', async () => {
    const idn = 'संगणक.भारत';
    const body = JSON.stringify({ v: 1, events: [joinOf(idn, 'ira')] });
    const res = await postRaw(h.service.eventsUrl, body, {
      ...sign(secretKey(WEBHOOK_SECRET), body),
      'ping-muc-host': 'xn--i1b2bf2c1f.xn--h2brj9c',
    });
    expect(res.body).toEqual({ ok: true, applied: 1 });
    expect((await h.joins(idn, 'muc.b.example')).map((j) => j.nick)).toEqual(['ira']);
  });
});

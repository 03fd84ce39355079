// One local service for VirtualHosts on two servers, from a hosts file (docs/hosts.md) and a
// master key file: each host's events under its server's derived key only (one key for every host
// of a server), its rounds to its server's stanza API with that key, and a rotation of the master
// key (current and previous).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { serverKeys, type KeyKind, keyText, parseMasterKey } from '../../../lib/domain/keys';
import { secretKey, sign } from '../../../lib/domain/signature';
import { nextSeq, postRaw, type Posted } from '../../support/events';
import { startHarness, type Harness } from '../../support/service';
import { startStanzaApiStub, type StanzaApiStub } from '../../../harness/stanza-api-stub';
import { waitFor } from '../../support/wait';

const A = 'a.example';
const C = 'c.example';
const REMOTE = 'muc.b.example';
const M1 = 'flow test master key one 0123456789';
const M2 = 'flow test master key two 0123456789';
/** A server's key as host-keys prints it, from master value `m`. */
const derived = (m: string, kind: KeyKind, server: string) =>
  keyText(serverKeys(parseMasterKey(JSON.stringify({ current: m })), kind, server)[0] as Buffer);
// Server "one" serves A, server "two" serves C (writeHosts).
const WA = derived(M1, 'webhook', 'one');
const WC = derived(M1, 'webhook', 'two');
const WC2 = derived(M2, 'webhook', 'two');
const AA = derived(M1, 'stanza-api', 'one');
const AC = derived(M1, 'stanza-api', 'two');

const joinOf = (host: string, nick: string) => ({
  type: 'join',
  seq: nextSeq(),
  host,
  user: `${nick}@${host}/r`,
  room: `room-${nick}@${REMOTE}`,
  nick,
});
const closeOf = (host: string) => ({ type: 's2s-close', seq: nextSeq(), host, remotes: [REMOTE], direction: 'out' });

let dir: string;
let file: string;
let keyFile: string;
let h: Harness;
let stubA: StanzaApiStub;
let stubC: StanzaApiStub;

/** Writes the hosts file: server "one" serves A (and `extra` hosts), server "two" serves C. */
function writeHosts(extra: string[] = []) {
  const doc = {
    servers: [
      { id: 'one', hosts: [A, ...extra], apiUrl: stubA.url },
      { id: 'two', hosts: [C], apiUrl: stubC.url },
    ],
  };
  writeFileSync(file, JSON.stringify(doc));
}

function writeMaster(current: string, previous?: string) {
  writeFileSync(keyFile, JSON.stringify({ current, previous }));
}

/** Posts `events` signed with `secrets` (several: a rotation), naming `host` in ping-muc-host. */
function post(host: string | undefined, secrets: string[], events: object[], id?: string): Promise<Posted> {
  const body = JSON.stringify({ v: 1, events });
  const headers: Record<string, string> = {
    ...sign(
      secrets.map((s) => secretKey(s)),
      body,
      undefined,
      id,
    ),
  };
  if (host !== undefined) headers['ping-muc-host'] = host;
  return postRaw(h.service.eventsUrl, body, headers);
}

beforeAll(async () => {
  dir = mkdtempSync(joinPath(tmpdir(), 'ping-muc-hosts-'));
  file = joinPath(dir, 'hosts.json');
  keyFile = joinPath(dir, 'master.json');
  writeMaster(M1);
  stubA = await startStanzaApiStub(AA);
  stubC = await startStanzaApiStub(AC);
  writeHosts();
  // Cache of 0 s: every request reads the file again, so a test can rotate a key in place.
  h = await startHarness({ PING_MUC_HOSTS_FILE: file, PING_MUC_MASTER_KEY_FILE: keyFile, PING_MUC_CACHE_SECONDS: '0' });
});
afterAll(async () => {
  await h.close();
  await stubA.close();
  await stubC.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  writeHosts();
  writeMaster(M1);
});

describe('events of hosts on two servers with their own keys', () => {
  it('accepts each host’s events under its own key', async () => {
    const a = await post(A, [WA], [joinOf(A, 'alice')]);
    const c = await post(C, [WC], [joinOf(C, 'carol')]);
    expect(a).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect(c).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect((await h.joins(A, REMOTE)).map((j) => j.user)).toContain(`alice@${A}/r`);
    expect((await h.joins(C, REMOTE)).map((j) => j.user)).toContain(`carol@${C}/r`);
  });

  it('accepts the events of every host of a server under the server’s one key', async () => {
    const A2 = 'a2.example';
    writeHosts([A2]);
    // The keys a global Prosody configuration of server one holds, for both its VirtualHosts.
    const a = await post(A, [WA], [joinOf(A, 'ada')]);
    const a2 = await post(A2, [WA], [joinOf(A2, 'ava')]);
    expect(a).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect(a2).toEqual({ status: 200, body: { ok: true, applied: 1 } });
    expect((await h.joins(A2, REMOTE)).map((j) => j.nick)).toContain('ava');
  });

  it('refuses a host of another server signed with a server’s key', async () => {
    const A2 = 'a2.example';
    writeHosts([A2]);
    const before = await h.snapshot();
    expect((await post(C, [WA], [joinOf(C, 'cyril')])).status).toBe(401);
    expect((await post(A2, [WC], [joinOf(A2, 'carl')])).status).toBe(401);
    expect(await h.snapshot()).toEqual(before);
  });

  it('refuses per event an event for the second host signed with the first host’s key', async () => {
    // The request itself was valid: its webhook-id is remembered (a replay is acknowledged), nothing else.
    const data = async () => (await h.snapshot()).filter((item) => !item.includes('"W#'));
    const before = await data();
    const res = await post(A, [WA], [joinOf(C, 'mallory'), closeOf(C)]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, applied: 0 });
    expect(res.body.refused).toEqual([
      {
        index: 0,
        type: 'join',
        error: expect.stringMatching(/event for host c\.example not signed by c\.example's key/),
      },
      { index: 1, type: 's2s-close', error: expect.stringMatching(/not signed by c\.example's key/) },
    ]);
    expect(await data()).toEqual(before);
  });

  it('applies only the signer’s own events of a mixed batch', async () => {
    const res = await post(A, [WA], [joinOf(C, 'mallory2'), joinOf(A, 'anne')]);
    expect(res.body).toMatchObject({ ok: true, applied: 1, refused: [{ index: 0, type: 'join' }] });
    expect((await h.joins(C, REMOTE)).map((j) => j.nick)).not.toContain('mallory2');
    expect((await h.joins(A, REMOTE)).map((j) => j.nick)).toContain('anne');
  });

  it('refuses a request that names the second host but is signed with the first host’s key', async () => {
    const before = await h.snapshot();
    const res = await post(C, [WA], [joinOf(C, 'mallory3')]);
    expect(res.status).toBe(401);
    expect(await h.snapshot()).toEqual(before);
  });

  it('a retried request of either host changes nothing', async () => {
    const id = 'msg_shared-between-hosts';
    const amos = [joinOf(A, 'amos')];
    const cyd = [joinOf(C, 'cyd')];
    expect((await post(A, [WA], amos, id)).body).toEqual({ ok: true, applied: 1 });
    expect((await post(C, [WC], cyd, id)).body).toEqual({ ok: true, applied: 1 });
    expect((await h.joins(C, REMOTE)).map((j) => j.nick)).toContain('cyd');
    const before = await h.snapshot();
    expect((await post(A, [WA], amos, id)).body).toEqual({ ok: true, applied: 1 });
    expect((await post(C, [WC], cyd, id)).body).toEqual({ ok: true, applied: 1 });
    expect(await h.snapshot()).toEqual(before);
  });

  it('refuses an unknown host with nothing applied', async () => {
    const before = await h.snapshot();
    const unknown = await post('x.example', [WA], [joinOf('x.example', 'xavier')]);
    expect(unknown.status).toBe(403);
    expect(String(unknown.body.error)).toMatch(/host x\.example is not served here/);
    expect(await h.snapshot()).toEqual(before);
  });

  it('refuses a request that names no valid host', async () => {
    const nameless = await post(undefined, [WA], [joinOf(A, 'nobody')]);
    expect(nameless.status).toBe(401);
    expect(String(nameless.body.error)).toMatch(/missing ping-muc-host/);
    const bad = await post('not a domain', [WA], [joinOf(A, 'nobody')]);
    expect(bad.status).toBe(400);
  });
});

describe('master key rotation', () => {
  it('accepts keys derived from the previous master while it is set', async () => {
    writeMaster(M2, M1);
    expect((await post(C, [WC], [joinOf(C, 'old')])).status).toBe(200);
    expect((await post(C, [WC2], [joinOf(C, 'new')])).status).toBe(200);
    // The module signs with both during a rotation.
    expect((await post(C, [WC2, WC], [joinOf(C, 'both')])).status).toBe(200);
  });

  it('refuses keys derived from the previous master once it is removed', async () => {
    writeMaster(M2);
    const before = await h.snapshot();
    const old = await post(C, [WC], [joinOf(C, 'late')]);
    expect(old.status).toBe(401);
    expect(await h.snapshot()).toEqual(before);
    expect((await post(C, [WC2, WC], [joinOf(C, 'after')])).status).toBe(200);
    expect((await h.joins(C, REMOTE)).map((j) => j.nick)).toEqual(
      expect.arrayContaining(['old', 'new', 'both', 'after']),
    );
  });
});

describe('rounds', () => {
  it('sends each host’s API calls to its own API under its own key', async () => {
    stubC.answers.set(`room-cora@${REMOTE}/cora`, 'not-acceptable');
    expect((await post(A, [WA], [joinOf(A, 'abel')])).status).toBe(200);
    expect((await post(C, [WC], [joinOf(C, 'cora')])).status).toBe(200);
    expect((await post(A, [WA], [closeOf(A)])).status).toBe(200);
    expect((await post(C, [WC], [closeOf(C)])).status).toBe(200);
    await waitFor(
      'both rounds',
      () => stubA.pings.some((p) => p.user === `abel@${A}/r`) && stubC.notifications.length > 0,
    );
    expect(stubA.pings.every((p) => p.user.endsWith(`@${A}/r`))).toBe(true);
    expect(stubC.pings.every((p) => p.user.endsWith(`@${C}/r`))).toBe(true);
    expect(stubC.pings.map((p) => p.user)).toContain(`cora@${C}/r`);
    expect(stubC.notifications).toMatchObject([{ user: `cora@${C}/r`, occupant: `room-cora@${REMOTE}/cora` }]);
    expect(stubA.notifications).toEqual([]);
    expect(stubA.refused + stubC.refused).toBe(0);
  });

  it('signs with both API keys during a rotation', async () => {
    // The server still holds AC (from M1): the previous key's signature is the one it accepts.
    writeMaster(M2, M1);
    const pings = stubC.pings.length;
    expect((await post(C, [WC2], [joinOf(C, 'rota')])).status).toBe(200);
    expect((await post(C, [WC2], [closeOf(C)])).status).toBe(200);
    await waitFor('a ping of rota', () => stubC.pings.slice(pings).some((p) => p.user === `rota@${C}/r`));
    expect(stubC.refused).toBe(0);
  });

  it('retries without notifying a round of a host the registry no longer lists', async () => {
    writeHosts(['d.example']);
    const WD = WA; // d.example is server one's: its key
    expect((await post('d.example', [WD], [joinOf('d.example', 'dora')])).status).toBe(200);
    expect((await post('d.example', [WD], [closeOf('d.example')])).status).toBe(200);
    writeHosts();
    // Its own failure, not the retry of another test's round that happens to be logged first.
    const unknown = (l: { message: string; error?: unknown }) =>
      l.message === 'round failed, will retry' && /host d\.example is not in the host registry/.test(String(l.error));
    await waitFor('the round of d.example to fail', () => h.logs.some(unknown));
    expect(stubA.pings.some((p) => p.user.startsWith('dora@'))).toBe(false);
    expect((await h.joins('d.example', REMOTE)).map((j) => j.nick)).toEqual(['dora']);
  });
});

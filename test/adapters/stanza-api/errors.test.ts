// The stanza API adapter's errors belong to one family (lib/support/errors.ts) and keep what they
// wrap as `cause`, so a caller can read the original failure and its `retry`.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readAnswer, Unusable } from '../../../lib/adapters/stanza-api/answers';
import { HttpStanzaApi } from '../../../lib/adapters/stanza-api/client';
import { RoutingStanzaApi } from '../../../lib/adapters/stanza-api/routing';
import { XmlError } from '../../../lib/adapters/stanza-api/xml';
import { JidError } from '../../../lib/domain/jid';
import { PingMucError, StanzaApiError, TransportError } from '../../../lib/support/errors';

const JOIN = { user: 'u0@a.example/r', occupant: 'room0@muc.b.example/u0', since: 1_733_580_000_000_000 };

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('stanza API errors', () => {
  it('are PingMucErrors including the reader’s', () => {
    expect(new XmlError('x')).toBeInstanceOf(PingMucError);
    expect(new Unusable('x')).toBeInstanceOf(PingMucError);
  });

  it('an answer that is no XML is Unusable with the XmlError as its cause', () => {
    const answer = { status: 200, contentType: 'application/xml', body: Buffer.from('<iq><ping></iq>') };
    const err = (() => {
      try {
        readAnswer(answer, 1024);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(Unusable);
    expect((err as Error).cause).toBeInstanceOf(XmlError);
  });

  it('an unreachable API fails with the socket error as the cause of its TransportError', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/stanza`;
    const api = new HttpStanzaApi({ url, key: Buffer.alloc(32, 7), timeoutMs: 2_000, tries: 1, windowMs: 1 });
    const err = await api.selfPing(JOIN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StanzaApiError);
    expect((err as StanzaApiError).retry).toBe(true);
    const transport = (err as Error).cause;
    expect(transport).toBeInstanceOf(TransportError);
    expect(((transport as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('a user that is no JID fails with the JidError as its cause', async () => {
    const routing = new RoutingStanzaApi(
      { multiHost: true, webhookKeys: async () => undefined, api: async () => undefined },
      () => {
        throw new Error('no client for a user that is no JID');
      },
    );
    const err = await routing.selfPing({ ...JOIN, user: '@a.example' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StanzaApiError);
    expect((err as Error).cause).toBeInstanceOf(JidError);
  });
});

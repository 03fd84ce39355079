// RoutingStanzaApi: each call goes to the API of the user's host, one client per host, URL and keys.
import { describe, expect, it } from 'vitest';
import { RoutingStanzaApi } from '../../../lib/adapters/stanza-api/routing';
import type { PingReply } from '../../../lib/domain/model';
import { secretKey } from '../../../lib/domain/signature';
import type { JoinRef } from '../../../lib/ports';

const K1 = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const K2 = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

describe('RoutingStanzaApi', () => {
  /** A router over three hosts, two of them sharing a URL and keys; d.example is unknown. */
  const router = () => {
    const apis: Record<string, { url: string; keys: Buffer[] }> = {
      'a.example': { url: 'https://a/stanza', keys: [secretKey(K1)] },
      'b.example': { url: 'https://a/stanza', keys: [secretKey(K1)] },
      'c.example': { url: 'https://c/stanza', keys: [secretKey(K2)] },
    };
    const calls: string[] = [];
    let built = 0;
    const routing = new RoutingStanzaApi(
      { multiHost: true, webhookKeys: async () => undefined, api: async (host) => apis[host] },
      (api) => {
        built++;
        /** Records the call, then answers `reply`. */
        const call =
          <R>(what: string, reply: R) =>
          async (join: JoinRef): Promise<R> => {
            calls.push(`${api.url} ${what} ${join.user} ${join.since}`);
            return reply;
          };
        return {
          heal: call<PingReply>('heal', { kind: 'notified' }),
          selfPing: call<PingReply>('self-ping', { kind: 'timeout' }),
          notify: call('notify', 'sent' as const),
          serverPing: async (host, remote) => void calls.push(`${api.url} server-ping ${host} ${remote}`),
        };
      },
    );
    return { routing, calls, built: () => built };
  };
  const join = (user: string, since = 7) => ({ user, occupant: 'room@muc.x/n', since });
  /** One call of each kind for the known hosts. */
  const callAll = async (routing: RoutingStanzaApi) => {
    await routing.selfPing(join('alice@A.example/r'));
    await routing.heal(join('alice@a.example/r', 8));
    await routing.selfPing(join('bob@b.example/r'));
    await routing.notify(join('carol@c.example/r', 9));
    await routing.serverPing('c.example', 'muc.x');
  };

  it('calls the API of the user’s host', async () => {
    const { routing, calls } = router();
    await callAll(routing);
    expect(calls).toEqual([
      'https://a/stanza self-ping alice@A.example/r 7',
      'https://a/stanza heal alice@a.example/r 8',
      'https://a/stanza self-ping bob@b.example/r 7',
      'https://c/stanza notify carol@c.example/r 9',
      'https://c/stanza server-ping c.example muc.x',
    ]);
  });

  it('builds one client per host even for hosts sharing their API', async () => {
    const { routing, built } = router();
    await callAll(routing);
    // a.example and b.example share a URL and keys, yet a batch never mixes hosts.
    expect(built()).toBe(3);
  });

  it('throws for a host not in the registry', async () => {
    const { routing } = router();
    await expect(routing.selfPing(join('dan@d.example/r'))).rejects.toThrow(
      /host d\.example is not in the host registry/,
    );
    await expect(routing.serverPing('d.example', 'muc.x')).rejects.toThrow(
      /host d\.example is not in the host registry/,
    );
  });
});

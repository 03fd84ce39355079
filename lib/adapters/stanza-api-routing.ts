// The round's stanza API when one deployment serves several VirtualHosts: each call goes to the
// API of the user's host (the user JID's domain for a self-ping, the presence's `to` for a
// notification), signed with that host's keys. A host the registry does not list is our own
// failure: the call throws, the round is retried, nobody is notified. A batch (version 2) is
// split by host: one batch per host, the hosts' batches at the same time, answers in order.
import { createHash } from 'node:crypto';
import type { Element } from 'ltx';
import { parseJid } from '../domain/jid';
import type { PingReply } from '../domain/model';
import type { StanzaApi } from '../ports';
import type { HostApi, HostRegistry } from '../support/registry';
import { StanzaApiError } from './stanza-api-http';

/** Builds the client of one API URL with its keys (an HttpStanzaApi as configured). */
export type StanzaApiFactory = (api: HostApi) => StanzaApi;

const MAX_CLIENTS = 256;

export class RoutingStanzaApi implements StanzaApi {
  /** One client per URL and keys, shared by the hosts that have the same (its keep-alive sockets too). */
  private readonly clients = new Map<string, StanzaApi>();

  constructor(
    private readonly registry: HostRegistry,
    private readonly factory: StanzaApiFactory,
  ) {}

  private async client(jid: string): Promise<StanzaApi> {
    return this.clientOf(hostOf(jid));
  }

  private async clientOf(host: string): Promise<StanzaApi> {
    const api = await this.registry.api(host);
    if (!api) throw new StanzaApiError(`host ${host} is not in the host registry: no stanza API to call`);
    const hash = createHash('sha256');
    for (const key of api.keys) hash.update(key).update('\u0000');
    const id = `${api.url} ${hash.digest('base64')}`;
    let client = this.clients.get(id);
    if (!client) {
      // Rotations leave clients behind; their idle sockets close on their own.
      if (this.clients.size >= MAX_CLIENTS) this.clients.clear();
      client = this.factory(api);
      this.clients.set(id, client);
    }
    return client;
  }

  async selfPing(user: string, occupant: string): Promise<PingReply> {
    return (await this.client(user)).selfPing(user, occupant);
  }

  async notify(presence: Element): Promise<boolean> {
    return (await this.client(String(presence.attrs.to ?? ''))).notify(presence);
  }

  async selfPingBatch(pings: Array<{ user: string; occupant: string }>): Promise<PingReply[]> {
    return this.pingsPerHost(pings, (client) => client.selfPingBatch?.bind(client));
  }

  /** Heals per host; to a client without heals, plain self-pings (the round then notifies itself). */
  async healBatch(pings: Array<{ user: string; occupant: string }>): Promise<PingReply[]> {
    return this.pingsPerHost(pings, (client) => (client.healBatch ?? client.selfPingBatch)?.bind(client));
  }

  /** Each host's pings through `batchOf` its client, or one at a time to a client without batches. */
  private pingsPerHost(
    pings: Array<{ user: string; occupant: string }>,
    batchOf: (client: StanzaApi) => ((group: typeof pings) => Promise<PingReply[]>) | undefined,
  ): Promise<PingReply[]> {
    return this.perHost(
      pings.map((p) => p.user),
      async (client, indices) => {
        const group = indices.map((i) => pings[i] as { user: string; occupant: string });
        const batch = batchOf(client);
        if (batch) return batch(group);
        return Promise.all(group.map((p) => client.selfPing(p.user, p.occupant)));
      },
    );
  }

  async serverPing(host: string, remote: string): Promise<void> {
    await (await this.clientOf(host)).serverPing?.(host, remote);
  }

  async notifyBatch(presences: Element[]): Promise<Array<'sent' | 'no-session' | 'failed'>> {
    return this.perHost(
      presences.map((p) => String(p.attrs.to ?? '')),
      async (client, indices) => {
        const group = indices.map((i) => presences[i] as Element);
        if (client.notifyBatch) return client.notifyBatch(group);
        return Promise.all(group.map(async (p) => ((await client.notify(p)) ? 'sent' : 'no-session')));
      },
    );
  }

  /** Calls `each` once per host of `jids` with the indices of its items; the answers in the order of `jids`. */
  private async perHost<T>(jids: string[], each: (client: StanzaApi, indices: number[]) => Promise<T[]>): Promise<T[]> {
    const hosts = new Map<string, number[]>();
    jids.forEach((jid, i) => {
      const host = hostOf(jid);
      const indices = hosts.get(host);
      if (indices) indices.push(i);
      else hosts.set(host, [i]);
    });
    const answers = new Array<T>(jids.length);
    await Promise.all(
      [...hosts].map(async ([host, indices]) => {
        const out = await each(await this.clientOf(host), indices);
        if (out.length !== indices.length)
          throw new StanzaApiError(`stanza API of ${host} answered ${out.length} items for ${indices.length}`);
        indices.forEach((i, j) => {
          answers[i] = out[j] as T;
        });
      }),
    );
    return answers;
  }
}

/** The host whose API serves `jid` (its domain); StanzaApiError when it is no JID. */
function hostOf(jid: string): string {
  try {
    return parseJid(jid).domain;
  } catch (err) {
    throw new StanzaApiError(`no stanza API for ${JSON.stringify(jid.slice(0, 200))}: ${(err as Error).message}`);
  }
}

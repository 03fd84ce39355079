// The round's stanza API when one deployment serves several VirtualHosts: each call goes to the
// API of the user's host (the user JID's domain for a self-ping, the presence's `to` for a
// notification), signed with that host's keys. A host the registry does not list is our own
// failure: the call throws, the round is retried, nobody is notified.
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
    let host: string;
    try {
      host = parseJid(jid).domain;
    } catch (err) {
      throw new StanzaApiError(`no stanza API for ${JSON.stringify(jid.slice(0, 200))}: ${(err as Error).message}`);
    }
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
}

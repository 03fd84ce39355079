// The round's stanza API when one deployment serves several VirtualHosts: each call goes to the
// API of the user's host (the user JID's domain), signed with that host's keys. A host the
// registry does not list is our own failure: the call throws, the round is retried, nobody is
// notified. Each host has its own client, which gathers that host's calls into its own batches.
import { createHash } from 'node:crypto';
import { parseJid } from '../../domain/jid';
import type { PingReply } from '../../domain/model';
import type { JoinRef, StanzaApi } from '../../ports';
import type { HostApi, HostRegistry } from '../../support/registry';
import { StanzaApiError } from '../../support/errors';

/** Builds the client of one host's API URL with its keys (an HttpStanzaApi as configured). */
export type StanzaApiFactory = (api: HostApi, host: string) => StanzaApi;

const MAX_CLIENTS = 256;

export class RoutingStanzaApi implements StanzaApi {
  /** The clients by host, URL and keys. */
  private readonly clients = new Map<string, StanzaApi>();

  constructor(
    private readonly registry: HostRegistry,
    private readonly factory: StanzaApiFactory,
  ) {}

  private async client(jid: string): Promise<StanzaApi> {
    return this.clientOf(hostOf(jid));
  }

  /** The host's client: one per host, URL and keys, so that a batch never mixes hosts. */
  private async clientOf(host: string): Promise<StanzaApi> {
    const api = await this.registry.api(host);
    if (!api) throw new StanzaApiError(`host ${host} is not in the host registry: no stanza API to call`);
    const hash = createHash('sha256');
    for (const key of api.keys) hash.update(key).update('\u0000');
    const id = `${host} ${api.url} ${hash.digest('base64')}`;
    let client = this.clients.get(id);
    if (!client) {
      // Rotations leave clients behind; their idle sockets close on their own.
      if (this.clients.size >= MAX_CLIENTS) this.clients.clear();
      client = this.factory(api, host);
      this.clients.set(id, client);
    }
    return client;
  }

  async heal(join: JoinRef): Promise<PingReply> {
    return (await this.client(join.user)).heal(join);
  }

  async selfPing(join: JoinRef): Promise<PingReply> {
    return (await this.client(join.user)).selfPing(join);
  }

  async notify(join: JoinRef): Promise<'sent' | 'no-session'> {
    return (await this.client(join.user)).notify(join);
  }

  async serverPing(host: string, remote: string): Promise<void> {
    await (await this.clientOf(host)).serverPing(host, remote);
  }
}

/** The host whose API serves `jid` (its domain); StanzaApiError when it is no JID. */
function hostOf(jid: string): string {
  try {
    return parseJid(jid).domain;
  } catch (err) {
    throw new StanzaApiError(`no stanza API for ${JSON.stringify(jid.slice(0, 200))}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

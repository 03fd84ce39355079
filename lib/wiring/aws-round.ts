// Dependencies of the round function; kept apart so the events bundle carries no XML code.
import type { RoundDeps } from '../app/deps';
import { checkRoundTimeout } from '../app/round';
import type { StanzaApi } from '../ports';
import { knownHosts } from '../support/registry';
import { awsRegistry, awsScheduler, awsShared } from './aws';
import { routedStanzaApi } from './stanza-api';

let api: StanzaApi | undefined;

export async function awsRoundDeps(selfArn: string): Promise<RoundDeps> {
  const s = awsShared('round');
  checkRoundTimeout(s.config);
  const hosts = awsRegistry(s);
  // Without a registry, a missing or weak key stops the function at once, as before.
  if (!hosts.multiHost) await hosts.api('');
  api ??= routedStanzaApi(s.config, hosts);
  return { ...s, api, scheduler: awsScheduler(s, selfArn), selfRetry: true, knownHosts: knownHosts(hosts) };
}

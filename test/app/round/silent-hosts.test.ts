// SilentHosts (issue 19, F1): the reconciler counts the known hosts whose last heartbeat is older
// than PING_MUC_SILENT_SECONDS, so one silent host among many pages (one alarm on the count),
// where a sum of heartbeats over every host never drops below its threshold.
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../lib/app/reconcile';
import { applyEvents } from '../../../lib/app/ingest';
import { parseEvents } from '../../../lib/domain/events';
import { roundWorld, type RoundWorld } from '../../support/fakes';
import { oneKeyRegistry } from '../../support/registry';

const MINUTE = 60_000;

/** SilentHosts published by one reconciler run. */
async function silent(w: RoundWorld): Promise<number | undefined> {
  w.emf.length = 0;
  await reconcile(w.deps);
  w.deps.metrics.flush();
  const doc = w.emf.find((d) => 'SilentHosts' in d);
  if (doc) {
    // One metric of the stack, no host dimension.
    const spec = (doc._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0];
    expect(spec?.Dimensions).toEqual([['Stack']]);
  }
  return doc?.SilentHosts as number | undefined;
}

let seq = 1_000_000;
async function beat(w: RoundWorld, host: string): Promise<void> {
  const deps = { ...w.deps, hosts: oneKeyRegistry(Buffer.alloc(32)) };
  await applyEvents(deps, parseEvents(JSON.stringify({ v: 1, events: [{ type: 'heartbeat', seq: ++seq, host }] })));
}

describe('SilentHosts', () => {
  it('counts one silent host of a hundred that beat (registry hosts)', async () => {
    const w = roundWorld();
    const hosts = Array.from({ length: 100 }, (_, i) => `h${i}.example`);
    w.deps.knownHosts = async () => hosts;
    for (const host of hosts) await beat(w, host);
    expect(await silent(w)).toBe(0);
    // Every host beats each minute but h42, which stops.
    for (let minute = 1; minute <= 6; minute++) {
      w.clock.advance(MINUTE);
      for (const host of hosts) if (host !== 'h42.example') await beat(w, host);
      expect(await silent(w)).toBe(minute > 5 ? 1 : 0);
    }
  });

  it('a registry host that never beat counts once the watch has run PING_MUC_SILENT_SECONDS', async () => {
    const w = roundWorld({ PING_MUC_SILENT_SECONDS: '120' });
    w.deps.knownHosts = async () => ['a.example', 'new.example'];
    await beat(w, 'a.example');
    // The first run starts the watch: a host without a beat is not counted yet.
    expect(await silent(w)).toBe(0);
    w.clock.advance(MINUTE);
    await beat(w, 'a.example');
    expect(await silent(w)).toBe(0);
    w.clock.advance(MINUTE + 1);
    await beat(w, 'a.example');
    expect(await silent(w)).toBe(1);
    // The watch's start is kept in the store: a reconciler of a new process still counts it.
    expect((await w.store.beats()).has('*')).toBe(true);
  });

  it('knows the hosts that ever beat when there is no registry', async () => {
    const w = roundWorld();
    expect(await silent(w)).toBe(0);
    await beat(w, 'a.example');
    await beat(w, 'b.example');
    w.clock.advance(4 * MINUTE);
    await beat(w, 'a.example');
    w.clock.advance(2 * MINUTE);
    expect(await silent(w)).toBe(1);
    w.clock.advance(4 * MINUTE);
    expect(await silent(w)).toBe(2);
  });

  it('fails the run after re-arming when the beats cannot be read', async () => {
    const w = roundWorld();
    w.store.beats = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(reconcile(w.deps)).rejects.toThrow(/ProvisionedThroughput/);
    expect(w.logs.some((l) => l.message === 'silent hosts not counted')).toBe(true);
  });
});

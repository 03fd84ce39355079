// The module model held to the module: the operations and decisions of generated histories
// (joins, leaves, session ends, reloads, heals and notifications, as the simulator's module model
// made them) are replayed through the real Lua libraries (test/prosody/replay.ts), which must
// decide alike: the same answer to every heal and notification, and the same events posted.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROSODY_LIBS, type ProsodyVersion } from '../prosody/lua';
import { type ModuleOp, replayModule } from '../prosody/replay';
import { historyArb } from './history';
import type { RecordedOp } from './module';
import { runHistory } from './world';

const TRACES = 12;

/** Recorded module operations of generated histories (no restart: the replay has none). */
async function traces(): Promise<RecordedOp[][]> {
  const histories = fc.sample(
    historyArb({ kinds: ['join', 'leave', 'end', 'wait', 'close', 'muc-restart', 'up', 'reload'] }),
    { seed: 20261207, numRuns: 60 },
  );
  const out: RecordedOp[][] = [];
  for (const h of histories) {
    const o = await runHistory(h, { record: true, requireReconciler: true });
    const ops = o.ops ?? [];
    // Those with a decision about a heal or a notification, the most first.
    if (ops.some((r) => r.op.op === 'heal' || r.op.op === 'notify')) out.push(ops);
  }
  out.sort((a, b) => calls(b) - calls(a));
  return out.slice(0, TRACES);
}

const calls = (ops: RecordedOp[]) => ops.filter((r) => r.op.op === 'heal' || r.op.op === 'notify').length;

/**
 * The Lua module's since differs from the model's (its clock is the harness's). Replays are
 * deterministic, so a call's since is found by replaying the operations before it (with the
 * calls before it already translated) and reading what each join answered.
 */
function replay(ops: RecordedOp[], prosody: ProsodyVersion) {
  const since = new Map<string, string>();
  const translated: ModuleOp[] = [];
  let mapped = 0;
  ops.forEach((r, k) => {
    if (r.op.op !== 'heal' && r.op.op !== 'notify') {
      translated.push(r.op as ModuleOp);
      return;
    }
    if (mapped < k) {
      const prefix = replayModule(translated, prosody);
      for (let i = mapped; i < k; i++) {
        const o = ops[i] as RecordedOp;
        if (o.op.op === 'join' && o.model !== null) since.set(o.model, String(prefix[i]?.result));
      }
      mapped = k;
    }
    // A since the model never gave stays unknown to the module too.
    translated.push({ ...r.op, since: since.get(r.op.since) ?? '1' } as ModuleOp);
  });
  const steps = replayModule(translated, prosody);
  ops.forEach((o, i) => {
    if (o.op.op === 'join' && o.model !== null && !since.has(o.model)) since.set(o.model, String(steps[i]?.result));
  });
  return { steps, since };
}

describe.each(Object.keys(PROSODY_LIBS) as ProsodyVersion[])(
  'the module model decides as the Lua module does (Prosody %s)',
  (prosody) => {
    it(`agrees on every operation of ${TRACES} generated histories`, { timeout: 120_000 }, async () => {
      const all = await traces();
      expect(all.length).toBe(TRACES);
      let checked = 0;
      for (const ops of all) {
        const { steps, since } = replay(ops, prosody);
        expect(steps).toHaveLength(ops.length);
        ops.forEach((r, i) => {
          const step = steps[i];
          const where = `op ${i + 1} of ${ops.length}: ${JSON.stringify(r.op)}`;
          const lua = r.op.op === 'join' ? (step?.result !== null ? 'a since' : null) : step?.result;
          const model = r.op.op === 'join' ? (r.model !== null ? 'a since' : null) : r.model;
          expect(lua, where).toBe(model);
          if (r.op.op === 'join') expect(step?.result, where).toBe(since.get(r.model as string));
          const events = (step?.events ?? []).map((e) => e.type).filter((t) => !t.startsWith('s2s-'));
          expect(events, where).toEqual(r.events);
          checked++;
        });
      }
      console.log(
        `[sim] replayed ${all.length} histories, ${checked} operations (${all.reduce((a, o) => a + calls(o), 0)} heals and notifications) through the Lua libraries of Prosody ${prosody}`,
      );
    });
  },
);

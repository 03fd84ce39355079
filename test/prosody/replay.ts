// A history of one server replayed through the module's real Lua libraries (replay.lua), so
// that a model of the module (e.g. the simulator's) can be held to the module's own decisions:
// each operation's result, and the events the module posted meanwhile.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lua, type ProsodyVersion } from './lua';

export type ModuleOp =
  /** The room reflects a self-presence; `request`: the client asked to join (a (re)join), default true. */
  | { op: 'join'; user: string; room: string; nick: string; request?: boolean }
  | { op: 'leave'; user: string; room: string; nick: string }
  | { op: 'end'; user: string }
  | { op: 'notify'; user: string; room: string; nick: string; since: string }
  /** `reply`: the inner XML of the error reply, '' for a result, undefined for none (a timeout). */
  | { op: 'heal'; user: string; room: string; nick: string; since: string; reply?: string }
  | { op: 'reload' }
  | { op: 'advance'; seconds: number };

export interface PostedEvent {
  type: string;
  seq: number;
  /** The seq at which the module's resync began (its load, reload or overflow). */
  epoch?: number;
  user?: string;
  room?: string;
  nick?: string;
  since?: number;
}

/**
 * Per operation: its result (join: the join's since; notify and heal: 'sent', 'no-session',
 * 'timeout', 'relayed' or 'refused <code>'; else null) and the events posted meanwhile.
 */
export interface Step {
  result: string | null;
  events: PostedEvent[];
}

const SCRIPT = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'replay.lua'), 'utf8');

export function replayModule(ops: ModuleOp[], prosody: ProsodyVersion = '0.12'): Step[] {
  const out = lua(SCRIPT, { prosody, input: `${ops.map((o) => JSON.stringify(o)).join('\n')}\n` });
  return out === ''
    ? []
    : out.split('\n').map((l) => {
        const step = JSON.parse(l) as { result: string | null; events: PostedEvent[] | Record<string, never> };
        // util.json writes an empty list as {}.
        return { result: step.result, events: Array.isArray(step.events) ? step.events : [] };
      });
}

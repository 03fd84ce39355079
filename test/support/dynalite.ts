// Test helper: an embedded dynalite on an ephemeral port (see lib/adapters/dynamodb/dynalite.ts).
import { startDynalite as start, type RunningDynalite } from '../../lib/adapters/dynamodb/dynalite';

export type { RunningDynalite } from '../../lib/adapters/dynamodb/dynalite';

export function startDynalite(options: { path?: string } = {}): Promise<RunningDynalite> {
  return start(options.path ? { path: options.path } : {});
}

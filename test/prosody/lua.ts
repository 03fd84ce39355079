// Runs plain Lua scripts against the module's libraries: a named interpreter, Prosody's own
// util.* (0.12 as packaged, 13 as scripts/ensure-prosody-13.sh unpacks it) and harness.lua,
// which stands in for the few parts of Prosody a library touches. A missing interpreter or
// Prosody tree throws, saying how to get it: these tests never skip.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODULE_FOLDER, REPO } from '../../harness/testbed';

export const PROSODY_LIBS = {
  '0.12': '/usr/lib/prosody',
  '13': path.join(REPO, '.cache/prosody-13/usr/lib/prosody'),
} as const;
export type ProsodyVersion = keyof typeof PROSODY_LIBS;

/** The interpreters Prosody 0.12 runs on; 13 refuses 5.1 (and so LuaJIT). */
export const INTERPRETERS = ['lua5.1', 'luajit', 'lua5.3', 'lua5.4'] as const;
export type Interpreter = (typeof INTERPRETERS)[number];

const HARNESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'harness.lua');

export interface LuaRun {
  bin?: Interpreter;
  prosody?: ProsodyVersion;
  input?: string;
}

/** The script's stdout, trimmed; throws with stderr when it fails. */
export function lua(script: string, { bin = 'lua5.4', prosody = '0.12', input }: LuaRun = {}): string {
  const lib = PROSODY_LIBS[prosody];
  if (!fs.existsSync(path.join(lib, 'util/stanza.lua'))) {
    throw new Error(
      `Prosody ${prosody}'s libraries are not at ${lib}: run \`bash scripts/ensure-prosody.sh\` as root (it runs ensure-prosody-13.sh)`,
    );
  }
  const prelude = `PROSODY_LIB = ${JSON.stringify(lib)}; MODULE_FOLDER = ${JSON.stringify(`${MODULE_FOLDER}/`)}
dofile(${JSON.stringify(HARNESS)})
`;
  const r = spawnSync(bin, ['-e', prelude + script], { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      `${bin} cannot run (${(r.error as NodeJS.ErrnoException).code}): run \`bash scripts/ensure-prosody.sh\` as root (installs lua5.1, luajit, lua5.3 and lua5.4)`,
    );
  }
  if (r.error || r.status !== 0)
    throw new Error(`${bin} (Prosody ${prosody} libraries) failed:\n${r.stderr}\n${r.stdout}\n${r.error ?? ''}`);
  return r.stdout.trim();
}

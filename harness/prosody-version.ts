// Which Prosody the testbed runs: PING_MUC_PROSODY=0.12 (default) is Debian 12's package on PATH;
// PING_MUC_PROSODY=13 is bookworm-backports' build that scripts/ensure-prosody-13.sh unpacks into
// .cache/prosody-13/. vitest.config.ts runs test/e2e/** once per version.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PROSODY_VERSIONS = ['0.12', '13'] as const;
export type ProsodyVersion = (typeof PROSODY_VERSIONS)[number];

export interface ProsodyInstall {
  version: ProsodyVersion;
  /** The `prosody` and `prosodyctl` to spawn. */
  prosody: string;
  prosodyctl: string;
  /** How to get it when it is missing. */
  install: string;
}

/** The unpacked Prosody 13 (scripts/ensure-prosody-13.sh). */
export const PROSODY_13_ROOT = path.join(REPO, '.cache', 'prosody-13');

export function prosodyVersion(): ProsodyVersion {
  const v = process.env.PING_MUC_PROSODY ?? '0.12';
  if (!(PROSODY_VERSIONS as readonly string[]).includes(v))
    throw new Error(`PING_MUC_PROSODY=${v}: the testbed runs one of ${PROSODY_VERSIONS.join(', ')}`);
  return v as ProsodyVersion;
}

export function prosodyInstall(version: ProsodyVersion = prosodyVersion()): ProsodyInstall {
  if (version === '13') {
    const bin = path.join(PROSODY_13_ROOT, 'usr', 'bin');
    return {
      version,
      prosody: path.join(bin, 'prosody'),
      prosodyctl: path.join(bin, 'prosodyctl'),
      install: 'run `bash scripts/ensure-prosody-13.sh` (as root when its Lua libraries are missing)',
    };
  }
  return {
    version,
    prosody: 'prosody',
    prosodyctl: 'prosodyctl',
    install: 'as root run `bash scripts/ensure-prosody.sh` (or `apt-get install -y prosody lua-unbound lua5.4`)',
  };
}

let checked: string | undefined;

/** Fails (never skips) unless the chosen Prosody runs and is the chosen version; returns its `Prosody x.y.z`. */
export function checkProsody(p: ProsodyInstall = prosodyInstall()): string {
  if (checked) return checked;
  if (p.version === '13' && !fs.existsSync(p.prosodyctl))
    throw new Error(`Prosody 13 is not unpacked (no ${p.prosodyctl}): ${p.install}, then run the tests again.`);
  const r = spawnSync(p.prosodyctl, ['about'], { encoding: 'utf8', timeout: 20_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const found = /^Prosody (\S+)/m.exec(out)?.[1];
  if (r.error || !found)
    throw new Error(
      `Prosody ${p.version} does not run (${p.prosodyctl} about: ${r.error?.message ?? out.trim().slice(0, 300)}): ` +
        `the e2e tests need real servers; ${p.install}, then run the tests again.`,
    );
  if (found !== p.version && !found.startsWith(`${p.version}.`))
    throw new Error(
      `PING_MUC_PROSODY=${p.version} but ${p.prosodyctl} is Prosody ${found}: the e2e suite runs against ` +
        `${PROSODY_VERSIONS.join(' and ')}; ${p.install}.`,
    );
  checked = `Prosody ${found}`;
  return checked;
}

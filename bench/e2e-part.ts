// Part 4 driver: ping-muc and Debian's mod_ping_muc, one after the other,
// in the same run, at each M given (quick: 100; --full: 500 and 1,000). BENCH_E2E_VARIANTS (a
// comma-separated list of variants) runs only those, for quick development runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { e2eScenario, type E2eResult, type Variant } from './e2e';
import { markdown, table, type Cell } from './table';

export interface E2ePart {
  rows: E2eResult[] | { measured: false; reason: string };
  rendered(md: boolean): string;
}

const DEBIAN_MODULE = '/usr/lib/prosody/modules/mod_ping_muc/mod_ping_muc.lua';

export const VARIANTS: readonly Variant[] = ['ping-muc', 'debian-mod_ping_muc'];

/** The variants named in `spec` (comma-separated, e.g. BENCH_E2E_VARIANTS), in VARIANTS order; all when unset. */
export function parseVariants(spec: string | undefined): Variant[] {
  const names = (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!names.length) return [...VARIANTS];
  for (const n of names)
    if (!VARIANTS.includes(n as Variant)) throw new Error(`e2e: unknown variant ${n}; known: ${VARIANTS.join(',')}`);
  return VARIANTS.filter((v) => names.includes(v));
}

export function render(rows: E2eResult[], md: boolean): string {
  return (md ? markdown : table)(
    [
      'variant',
      'M',
      'clients',
      'delay ms',
      'joins notified',
      'p50 ms',
      'max ms',
      'pings',
      'dup. pings',
      'notifications',
      'dup. notifications',
      'told once / twice / more / never',
      'replies leaked to clients',
      'round start/done ms after kill',
      'CPU ms A / B / service / store / clients',
    ],
    rows.map((r): Cell[] => [
      r.variant,
      r.m,
      r.clients,
      r.delayMs,
      `${r.notifiedJoins}/${r.m}`,
      r.p50Ms,
      r.maxMs,
      r.pings,
      r.duplicatePings,
      r.notifications,
      r.duplicateNotifications,
      `${r.told.once} / ${r.told.twice} / ${r.told.more} / ${r.told.never}`,
      r.leakedReplies,
      r.roundStartMs === undefined ? '' : `${r.roundStartMs} / ${r.roundDoneMs ?? '?'}`,
      r.variant === 'debian-mod_ping_muc'
        ? `${r.cpuMs.a} / ${r.cpuMs.b} / - / - / ${r.cpuMs.clients}`
        : `${r.cpuMs.a} / ${r.cpuMs.b} / ${r.cpuMs.service} / ${r.cpuMs.store} / ${r.cpuMs.clients}`,
    ]),
  );
}

/** Every variant at each M in `ms` (rows ordered by M, then variant). */
export async function e2ePart(
  ms: number[],
  log: (s: string) => void,
  variants: Variant[] = parseVariants(process.env.BENCH_E2E_VARIANTS),
): Promise<E2ePart> {
  const prosody = spawnSync('prosodyctl', ['about'], { encoding: 'utf8', timeout: 20_000 });
  if (prosody.error || !/Prosody/.test(`${prosody.stdout}${prosody.stderr}`)) {
    const reason = 'Prosody is not installed (bash scripts/ensure-prosody.sh)';
    log(`e2e: skipped: ${reason}`);
    return { rows: { measured: false, reason }, rendered: () => `not measured: ${reason}` };
  }
  const debianMissing = variants.includes('debian-mod_ping_muc') && !existsSync(DEBIAN_MODULE);
  if (debianMissing) log("e2e: Debian's mod_ping_muc not measured: apt-get install prosody-modules");
  const run = variants.filter((v) => !(debianMissing && v === 'debian-mod_ping_muc'));
  log(`e2e: ${run.join(', ')} at M = ${ms.join(', ')}`);
  const rows: E2eResult[] = [];
  for (const m of ms) for (const v of run) rows.push(await e2eScenario(v, m, log));
  return {
    rows,
    rendered: (md) =>
      render(rows, md) +
      (debianMissing ? "\n\nDebian's mod_ping_muc: not measured (apt-get install prosody-modules)." : ''),
  };
}

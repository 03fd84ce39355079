// Part 4 driver: ping-muc and Debian's mod_ping_muc, one after the other, in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { e2eScenario, type E2eResult } from './e2e';
import { markdown, table, type Cell } from './table';

export interface E2ePart {
  rows: E2eResult[] | { measured: false; reason: string };
  rendered(md: boolean): string;
}

const DEBIAN_MODULE = '/usr/lib/prosody/modules/mod_ping_muc/mod_ping_muc.lua';

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
      r.roundStartMs === undefined ? '' : `${r.roundStartMs} / ${r.roundDoneMs ?? '?'}`,
      r.variant === 'debian-mod_ping_muc'
        ? `${r.cpuMs.a} / ${r.cpuMs.b} / - / - / ${r.cpuMs.clients}`
        : `${r.cpuMs.a} / ${r.cpuMs.b} / ${r.cpuMs.service} / ${r.cpuMs.store} / ${r.cpuMs.clients}`,
    ]),
  );
}

export async function e2ePart(m: number, log: (s: string) => void): Promise<E2ePart> {
  const prosody = spawnSync('prosodyctl', ['about'], { encoding: 'utf8', timeout: 20_000 });
  if (prosody.error || !/Prosody/.test(`${prosody.stdout}${prosody.stderr}`)) {
    const reason = 'Prosody is not installed (bash scripts/ensure-prosody.sh)';
    log(`e2e: skipped: ${reason}`);
    return { rows: { measured: false, reason }, rendered: () => `not measured: ${reason}` };
  }
  const rows: E2eResult[] = [await e2eScenario('ping-muc', m, log), await e2eScenario('ping-muc-v2', m, log)];
  const debian = existsSync(DEBIAN_MODULE);
  if (debian) rows.push(await e2eScenario('debian-mod_ping_muc', m, log));
  else log("e2e: Debian's mod_ping_muc not measured: apt-get install prosody-modules");
  return {
    rows,
    rendered: (md) =>
      render(rows, md) + (debian ? '' : "\n\nDebian's mod_ping_muc: not measured (apt-get install prosody-modules)."),
  };
}

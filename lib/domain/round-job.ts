// The round job is our own schedule input, but it is still checked before use.
import type { RoundJob } from './model';
import { normalizeDomain } from './jid';

export function parseRoundJob(input: unknown): RoundJob {
  const raw = (typeof input === 'string' ? JSON.parse(input) : input) as Partial<RoundJob> | null;
  if (!raw || typeof raw !== 'object') throw new Error('round job must be an object');
  const { host, remote, gen, kind, attempt, pass, probe, at } = raw;
  if (
    typeof host !== 'string' ||
    typeof remote !== 'string' ||
    typeof gen !== 'string' ||
    !/^[0-9a-z]{1,16}$/.test(gen)
  ) {
    throw new Error(`invalid round job ${JSON.stringify(raw)}`);
  }
  if (kind !== 'start' && kind !== 'continue') throw new Error(`invalid round job kind ${JSON.stringify(kind)}`);
  if (attempt !== undefined && !(Number.isInteger(attempt) && attempt >= 0 && attempt <= 100)) {
    throw new Error(`invalid round job attempt ${JSON.stringify(attempt)}`);
  }
  if (pass !== undefined && !(Number.isInteger(pass) && pass >= 0 && pass <= 100)) {
    throw new Error(`invalid round job pass ${JSON.stringify(pass)}`);
  }
  if (probe !== undefined && (probe !== true || pass === undefined)) {
    throw new Error(`invalid round job probe ${JSON.stringify(probe)}: true, with a pass`);
  }
  if (at !== undefined && !Number.isSafeInteger(at)) throw new Error(`invalid round job at ${JSON.stringify(at)}`);
  const job: RoundJob = { host: normalizeDomain(host), remote: normalizeDomain(remote), gen, kind };
  if (attempt) job.attempt = attempt;
  if (pass !== undefined) job.pass = pass;
  if (probe) job.probe = true;
  if (at !== undefined) job.at = at;
  return job;
}

/** The schedule input: only the job's own fields, as parseRoundJob reads them. */
export function serializeRoundJob(job: RoundJob): string {
  const { host, remote, gen, kind, attempt, pass, probe, at } = job;
  return JSON.stringify({
    host,
    remote,
    gen,
    kind,
    ...(attempt ? { attempt } : {}),
    ...(pass !== undefined ? { pass } : {}),
    ...(probe ? { probe } : {}),
    ...(at !== undefined ? { at } : {}),
  });
}

// docs/events.md's field-rules table is held to the validator (lib/domain/events.ts): every rule
// of every row is probed at its bounds, and every field the validator returns has a row. Driven
// by the table: a new row needs no new test, only clauses from the vocabulary below.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EventError,
  MAX_EVENTS,
  MAX_REMOTES,
  MAX_SEQ_AHEAD_SECONDS,
  parseBatch,
  parseEvent,
} from '../../lib/domain/events';

const DOC = readFileSync(join(import.meta.dirname, '../../docs/events.md'), 'utf8');

interface Row {
  field: string;
  /** 'body', or the event types that carry the field. */
  in: 'body' | string[];
  required: boolean;
  /** What an optional field counts as when absent, when the table says. */
  absent?: string;
  nullIsAbsent: boolean;
  type: string;
  rules: string[];
}

const ticked = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');

function fieldTable(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const head = lines.findIndex((l) => /^\|\s*field\s*\|\s*in\s*\|\s*required\s*\|\s*type\s*\|\s*rule\s*\|/.test(l));
  if (head < 0) throw new Error('docs/events.md has no `| field | in | required | type | rule |` table');
  const rows: Array<Omit<Row, 'in'> & { in: string }> = [];
  for (const line of lines.slice(head + 2)) {
    if (!line.startsWith('|')) break;
    const [field = '', where = '', required = '', type = '', rule = ''] = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    rows.push({
      field: ticked(field)[0] ?? field,
      in: where,
      required: required === 'yes',
      absent: /\(absent: ([^)]+)\)/.exec(required)?.[1],
      nullIsAbsent: required.includes('`null` counts as absent'),
      type,
      rules: rule
        .split(';')
        .map((r) => r.trim())
        .filter(Boolean),
    });
  }
  const types = ticked(rows.find((r) => r.field === 'type')?.rules.find((r) => r.startsWith('one of')) ?? '');
  return rows.map((r) => ({ ...r, in: r.in === 'body' ? 'body' : r.in === 'every event' ? types : ticked(r.in) }));
}

const rows = fieldTable(DOC);
const TYPES = ticked(rows.find((r) => r.field === 'type')?.rules[0] ?? '');
const eventRows = rows.filter((r) => r.in !== 'body');
const rowsOf = (type: string) => eventRows.filter((r) => r.in.includes(type));

/** Fields the validator adds from others: not sent, so not in the table. */
const DERIVED: Record<string, (e: Record<string, unknown>) => unknown> = {
  remote: (e) => String(e.room).split('@').pop(),
};
/** Constants whose value a rule states. */
const CONSTANTS: Record<string, number> = { events: MAX_EVENTS, remotes: MAX_REMOTES };

const NOW_MS = 1_764_075_600_000;
const SEQ = NOW_MS * 1000 + 1;
const HOST = 'a.example';

/** A valid value of a field, by its type and rules. */
function sample(row: Row): unknown {
  const oneOf = row.rules.find((r) => r.startsWith('one of'));
  if (oneOf) return ticked(oneOf)[0];
  switch (row.type) {
    case 'integer':
    case 'integer (µs)':
      return SEQ;
    case 'domain':
      return HOST;
    case 'full JID':
      return `alice@${HOST}/phone`;
    case 'bare JID':
      return 'lobby@muc.b.example';
    case 'resourcepart':
      return 'Alice';
    case 'array of domains':
      return ['muc.b.example'];
    default:
      throw new Error(`${row.field}: type "${row.type}" has no sample here: add one`);
  }
}

/** A valid event of `type` with every field the table gives it (optional ones too, unless `only`). */
function event(type: string, only?: string): Record<string, unknown> {
  const fields = rowsOf(type).filter((r) => r.required || only === undefined || r.field === only);
  return Object.fromEntries(fields.map((r) => [r.field, r.field === 'type' ? type : sample(r)]));
}

const accepts = (raw: Record<string, unknown>, now = NOW_MS) => expect(() => parseEvent(raw, now)).not.toThrow();
const refuses = (raw: Record<string, unknown>, now = NOW_MS) => expect(() => parseEvent(raw, now)).toThrow(EventError);
const body = (over: Record<string, unknown>) => JSON.stringify({ v: 1, events: [event(TYPES[0] ?? '')], ...over });

/** A value of the wrong JSON type for the row's type. */
const wrongType = (row: Row) =>
  row.type.startsWith('integer') ? String(sample(row)) : row.type.startsWith('array') ? 'x' : 5;

/** Probes one clause of a row on an event of `type`; false when the clause is not in the vocabulary. */
function probe(row: Row, rule: string, type: string): boolean {
  // The required fields and this one: another optional field's rule (since ≤ seq) stays out of the way.
  const e = event(type, row.field);
  const f = row.field;
  const set = (v: unknown) => ({ ...e, [f]: v });
  let m: RegExpExecArray | null;
  if (rule === 'positive safe integer' || rule === 'non-negative safe integer') {
    // Outside the seq window check (no `now`): the integer rule alone. `seq` raised so "at most seq" holds.
    const high = { ...e, seq: Number.MAX_SAFE_INTEGER };
    for (const bad of [-1, 1.5, 2 ** 53, '1']) expect(() => parseEvent({ ...high, [f]: bad })).toThrow(EventError);
    expect(() => parseEvent({ ...high, [f]: Number.MAX_SAFE_INTEGER })).not.toThrow();
    expect(() => parseEvent({ ...high, [f]: 1 })).not.toThrow();
    const zero = () => parseEvent({ ...high, [f]: 0 });
    if (rule.startsWith('positive')) expect(zero).toThrow(EventError);
    else expect(zero).not.toThrow();
  } else if (rule === 'at most `seq`') {
    accepts(set(e.seq));
    refuses(set((e.seq as number) + 1));
  } else if ((m = /^at most (\d+) s ahead of ping-muc's clock$/.exec(rule))) {
    const seconds = Number(m[1]);
    expect(MAX_SEQ_AHEAD_SECONDS).toBe(seconds);
    const edge = NOW_MS * 1000 + seconds * 1_000_000;
    accepts(set(edge));
    refuses(set(edge + 1));
  } else if ((m = /^one of (.+)$/.exec(rule))) {
    const values = ticked(m[1] ?? '');
    if (f === 'type') {
      for (const t of values) accepts(event(t));
      refuses({ ...e, type: 'kick' });
    } else {
      for (const v of values) accepts(set(v));
      refuses(set(`${values[0]}x`));
    }
  } else if ((m = /^(\d[\d,]*) to (\d[\d,]*) items$/.exec(rule))) {
    const [min, max] = [Number(m[1]?.replaceAll(',', '')), Number(m[2]?.replaceAll(',', ''))];
    if (f in CONSTANTS) expect(CONSTANTS[f], `${f}: the constant vs the table`).toBe(max);
    const domains = (n: number) => Array.from({ length: n }, (_, i) => `muc${i}.b.example`);
    accepts(set(domains(max)));
    refuses(set(domains(max + 1)));
    if (min > 0) refuses(set(domains(min - 1)));
  } else if ((m = /^(\d+) to (\d+) bytes of UTF-8$/.exec(rule))) {
    const [min, max] = [Number(m[1]), Number(m[2])];
    accepts(set(`${'é'.repeat(Math.floor(max / 2))}${'a'.repeat(max % 2)}`));
    refuses(set('é'.repeat(Math.ceil((max + 1) / 2))));
    if (min > 0) refuses(set('a'.repeat(min - 1)));
  } else if (rule === 'on `host`') {
    refuses(set(String(e[f]).replace(`@${HOST}`, '@c.example')));
  } else if (rule === 'not on `host`') {
    refuses(set(`lobby@${HOST}`));
  } else {
    return false;
  }
  return true;
}

describe('docs/events.md field rules', () => {
  it('lists the event types the validator accepts', () => {
    expect(TYPES.length).toBeGreaterThan(0);
    for (const type of TYPES) accepts(event(type));
  });

  for (const type of TYPES) {
    it(`lists every field the validator returns for ${type}`, () => {
      const parsed = parseEvent(event(type), NOW_MS) as Record<string, unknown>;
      for (const [field, from] of Object.entries(DERIVED)) {
        if (field in parsed) expect(parsed[field], `${field} is derived`).toBe(from(parsed));
      }
      const returned = Object.keys(parsed).filter((k) => !(k in DERIVED));
      expect(returned.sort()).toEqual(
        rowsOf(type)
          .map((r) => r.field)
          .sort(),
      );
    });
  }

  for (const row of eventRows) {
    for (const type of row.in) {
      it(`holds ${row.field} of ${type} to "${row.rules.join('; ') || row.type}"`, () => {
        const e = event(type);
        const { [row.field]: _, ...without } = e;
        if (row.required) refuses(without);
        else {
          accepts(without);
          const parsed = parseEvent(without, NOW_MS) as Record<string, unknown>;
          if (row.absent !== undefined && row.field in parsed) expect(String(parsed[row.field])).toBe(row.absent);
          if (row.nullIsAbsent) accepts({ ...e, [row.field]: null });
        }
        if (row.field !== 'type') refuses({ ...e, [row.field]: wrongType(row) });
        for (const rule of row.rules) {
          expect(probe(row, rule, type), `${row.field}: clause "${rule}" is not in the vocabulary`).toBe(true);
        }
      });
    }
  }

  it('holds the body to its rows', () => {
    const v = rows.find((r) => r.field === 'v');
    const events = rows.find((r) => r.field === 'events');
    expect(v?.rules).toEqual(['`1`']);
    expect(() => parseBatch(body({}))).not.toThrow();
    expect(() => parseBatch(body({ v: 2 }))).toThrow(EventError);
    expect(() => parseBatch(body({ v: '1' }))).toThrow(EventError);
    expect(() => parseBatch(body({ v: undefined }))).toThrow(EventError);
    const m = /^(\d[\d,]*) to (\d[\d,]*) items$/.exec(events?.rules[0] ?? '');
    const [min, max] = [Number(m?.[1]), Number(m?.[2]?.replaceAll(',', ''))];
    expect(MAX_EVENTS, 'MAX_EVENTS vs the table').toBe(max);
    const many = (n: number) => Array.from({ length: n }, () => event(TYPES[0] ?? ''));
    expect(parseBatch(body({ events: many(max) })).events).toHaveLength(max);
    expect(() => parseBatch(body({ events: many(max + 1) }))).toThrow(EventError);
    expect(() => parseBatch(body({ events: many(min - 1) }))).toThrow(EventError);
    expect(() => parseBatch(body({ events: undefined }))).toThrow(EventError);
  });
});

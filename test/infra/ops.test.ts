// Operations at provider scale (issue 19, item 5), on the synthesized template: the silent-host
// alarm, the per-item failure alarms, the alarms' missing-data and flapping rules, the events
// function's concurrency cap, the opt-in dashboard and detailed metrics, and who gets paged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJECTED_PERIODS, REJECTED_THRESHOLD } from '../../infra/alarms';
import { ALARMS_UNSET } from '../../infra/outputs';
import { ENV, loadConfig } from '../../lib/support/config';
import { COUNTS, Metrics, type MetricsLevel } from '../../lib/support/observability';
import { evaluate, type EvalContext } from '../../harness/cfn-eval';
import { props, ref, resource, synth, type CfnTemplate, type Synth } from '../../harness/synth';

let s: Synth;
let json: CfnTemplate;

beforeAll(() => {
  s = synth();
  json = s.json;
});
afterAll(() => s?.cleanup());

const ctx = (parameters: Record<string, string> = {}): EvalContext => ({
  template: json,
  parameters: { ApiUrl: 'https://xmpp.example.com:5281/ping_muc_cloud', ...parameters },
});
const alarm = (prefix: string) => props(resource(json, 'AWS::CloudWatch::Alarm', prefix)[1]);
const stackDim = { Name: 'Stack', Value: ref('AWS::StackName') };
const shape = (p: Record<string, unknown>) => ({
  ns: p.Namespace,
  metric: p.MetricName,
  dims: [...((p.Dimensions as Array<{ Name: string }>) ?? [])].sort((a, b) => a.Name.localeCompare(b.Name)),
  stat: p.Statistic,
  period: p.Period,
  threshold: p.Threshold,
  op: p.ComparisonOperator,
  evaluation: [p.EvaluationPeriods, p.DatapointsToAlarm],
  missing: p.TreatMissingData,
});

/** Every (metric, dimension names, dimension value) lib publishes at `level`, as `Name[Dims]=value`. */
function published(level: MetricsLevel): Set<string> {
  const out = new Set<string>();
  const m = new Metrics(
    'PingMuc',
    (line) => {
      const doc = JSON.parse(line) as Record<string, unknown> & {
        _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
      };
      const spec = doc._aws.CloudWatchMetrics[0]!;
      for (const set of spec.Dimensions) {
        const own = set.filter((d) => d !== 'Stack');
        out.add(`${spec.Metrics[0]!.Name}[${own.join(',')}]=${own.map((d) => String(doc[d])).join(',')}`);
      }
    },
    'PingMuc',
    level,
  ).forHost('h.example');
  for (const [name, { dimension, values }] of Object.entries(COUNTS))
    for (const v of values) m.count(name as 'Events', dimension as 'EventType', v as 'join');
  m.measure('SilentHosts', 0, 'Count');
  m.measure('RoundDurationMs', 1, 'Milliseconds');
  m.measure('CloseToStartMs', 1, 'Milliseconds');
  m.flush();
  return out;
}

describe('silent hosts', () => {
  it('one alarm for every host: SilentHosts [Stack] above 0 for 3 minutes (missing data breaches)', () => {
    expect(shape(alarm('SilentHostsAlarm'))).toEqual({
      ns: 'PingMuc',
      metric: 'SilentHosts',
      dims: [stackDim],
      stat: 'Maximum',
      period: 60,
      threshold: 0,
      op: 'GreaterThanThreshold',
      evaluation: [3, 3],
      // The reconciler publishes it every minute: silence means the reconciler or EMF is broken.
      missing: 'breaching',
    });
    expect(alarm('SilentHostsAlarm').Unit).toBe('Count');
  });

  it('no alarm sums the heartbeats of all hosts (one silent host among 100 would never fire it)', () => {
    const all = Object.values(json.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(JSON.stringify(all.map((r) => [props(r).Dimensions, props(r).Metrics]))).not.toContain('heartbeat');
  });
});

describe('per-item failures', () => {
  it('events refused inside a 200 alarm on the first one in 5 minutes', () => {
    expect(shape(alarm('EventsRefusedAlarm'))).toEqual({
      ns: 'PingMuc',
      metric: 'Events',
      dims: [{ Name: 'EventType', Value: 'refused' }, stackDim],
      stat: 'Sum',
      period: 300,
      threshold: 0,
      op: 'GreaterThanThreshold',
      evaluation: [1, 1],
      missing: 'notBreaching',
    });
  });

  it('unusable stanza-API answers (Pings with Outcome=failed) alarm on the first one in 5 minutes', () => {
    expect(shape(alarm('UnusableAnswersAlarm'))).toEqual({
      ns: 'PingMuc',
      metric: 'Pings',
      dims: [{ Name: 'Outcome', Value: 'failed' }, stackDim],
      stat: 'Sum',
      period: 300,
      threshold: 0,
      op: 'GreaterThanThreshold',
      evaluation: [1, 1],
      missing: 'notBreaching',
    });
  });

  it("every alarm on ping-muc's own metrics reads one that lib publishes by default", () => {
    const byDefault = published('default');
    const read = Object.values(json.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && props(r).Namespace === 'PingMuc')
      .map((r) => {
        const dims = (props(r).Dimensions as Array<{ Name: string; Value: unknown }>).filter((d) => d.Name !== 'Stack');
        return `${props(r).MetricName}[${dims.map((d) => d.Name).join(',')}]=${dims.map((d) => d.Value).join(',')}`;
      });
    expect(read.sort()).toEqual(
      [
        'Events[EventType]=refused',
        'Pings[Outcome]=failed',
        'Reconciled[]=',
        'RoundFailures[]=',
        'SilentHosts[]=',
      ].sort(),
    );
    for (const r of read) expect(byDefault, r).toContain(r);
    // No math alarm sums per-value metrics that only Metrics=detailed publishes.
    const math = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && JSON.stringify(props(r).Metrics ?? []).includes('PingMuc'),
    );
    expect(math).toEqual([]);
  });
});

describe('missing data and flapping', () => {
  it('the DLQ alarm ignores missing data: SQS stops publishing an idle queue while messages stay (F8)', () => {
    expect(alarm('DeadLetterQueueAlarm').TreatMissingData).toBe('ignore');
  });

  /**
   * CloudWatch's M-of-N evaluation over 5-minute sums of `times` (seconds), one state per period
   * once N periods exist.
   */
  function states(times: number[], threshold: number, m: number, n: number, periods: number): string[] {
    const sums = Array.from(
      { length: periods },
      (_, i) => times.filter((t) => t >= i * 300 && t < (i + 1) * 300).length,
    );
    const out: string[] = [];
    for (let i = n - 1; i < periods; i++) {
      const breaching = sums.slice(i - n + 1, i + 1).filter((x) => x >= threshold).length;
      out.push(breaching >= m ? 'ALARM' : 'OK');
    }
    return out;
  }

  it('a module retrying a 401 (backoff up to 60 s plus latency) keeps the 4xx alarm in ALARM (F9)', () => {
    // prosody/mod_ping_muc_cloud: after the n-th 401 it waits min(60, 2^(n-1)) s; each request takes 0.3 s.
    const times: number[] = [];
    let t = 0;
    for (let n = 1; t < 4 * 3600; n++) {
      times.push(t);
      t += Math.min(60, 2 ** (n - 1)) + 0.3;
    }
    const periods = 48;
    const p = alarm('EventsRejectedAlarm');
    expect([p.Threshold, p.DatapointsToAlarm, p.EvaluationPeriods]).toEqual([
      REJECTED_THRESHOLD,
      REJECTED_PERIODS.alarm,
      REJECTED_PERIODS.of,
    ]);
    const now = states(times, REJECTED_THRESHOLD, REJECTED_PERIODS.alarm, REJECTED_PERIODS.of, periods);
    expect(now.every((x) => x === 'ALARM')).toBe(true);
    // The rule it replaces (>= 5 in one period) went back to OK and fired again.
    const before = states(times, 5, 1, 1, periods);
    expect(before).toContain('OK');
    expect(before.lastIndexOf('ALARM')).toBeGreaterThan(before.indexOf('OK'));
    // One stray request (a scanner) fires neither.
    expect(states([10], REJECTED_THRESHOLD, REJECTED_PERIODS.alarm, REJECTED_PERIODS.of, 6)).not.toContain('ALARM');
  });
});

describe('flood', () => {
  it('the events function is capped at EventsReservedConcurrency invocations (20 by default or 0 for none)', () => {
    const id = resource(json, 'AWS::Lambda::Function', 'EventsFunction')[0];
    const reserved = (p: Record<string, string> = {}) =>
      (evaluate(ctx(p), props(json.Resources[id]!)) as Record<string, unknown>).ReservedConcurrentExecutions;
    expect(json.Parameters!.EventsReservedConcurrency!.Default).toBe(20);
    expect(reserved()).toBe('20');
    expect(reserved({ EventsReservedConcurrency: '0' })).toBeUndefined();
  });
});

describe('opt-ins', () => {
  it('the dashboard with its URL output exists only with Dashboard=true (default false)', () => {
    const [, dashboard] = resource(json, 'AWS::CloudWatch::Dashboard', 'Dashboard');
    expect(json.Parameters!.Dashboard).toMatchObject({ Default: 'false', AllowedValues: ['false', 'true'] });
    expect(dashboard.Condition).toBe('HasDashboard');
    expect(json.Outputs!.DashboardUrl!.Condition).toBe('HasDashboard');
    expect(evaluate(ctx(), { Condition: 'HasDashboard' })).toBe(false);
    expect(evaluate(ctx({ Dashboard: 'true' }), { Condition: 'HasDashboard' })).toBe(true);
  });

  it('Metrics (default "default") reaches both functions as a PING_MUC_METRICS lib accepts', () => {
    expect(json.Parameters!.Metrics).toMatchObject({ Default: 'default', AllowedValues: ['default', 'detailed'] });
    for (const prefix of ['EventsFunction', 'RoundFunction']) {
      const [id] = resource(json, 'AWS::Lambda::Function', prefix);
      for (const value of ['default', 'detailed'] as const) {
        const env = (
          evaluate(ctx({ Metrics: value }), props(json.Resources[id]!).Environment) as {
            Variables: Record<string, string>;
          }
        ).Variables;
        expect(env[ENV.metrics], prefix).toBe(value);
        expect(loadConfig({ [ENV.metrics]: env[ENV.metrics] }).metrics).toBe(value);
      }
    }
    expect(() => loadConfig({ [ENV.metrics]: 'all' })).toThrow(/PING_MUC_METRICS=all/);
  });
});

describe('who is paged', () => {
  it('the AlarmNotifications output shouts when AlarmEmail is empty (cdk deploy prints it every time)', () => {
    const value = json.Outputs!.AlarmNotifications!.Value;
    expect(evaluate(ctx(), value)).toBe(ALARMS_UNSET);
    expect(ALARMS_UNSET).toMatch(/^WARNING: NOBODY IS PAGED/);
    expect(evaluate(ctx({ AlarmEmail: 'ops@example.com' }), value)).toMatch(/confirmed/);
  });
});

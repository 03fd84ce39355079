// The cost benchmark's arithmetic (bench/cost/model.ts) and the DynamoDB rules it counts with
// (bench/cost/aws.ts): pricing, scaling to a month, metric-hours, provisioned capacity, the
// module's batching, item sizes and GSI writes. Not timed.
import { describe, expect, it } from 'vitest';
import { gsiWriteUnits, itemSize, storedBytes, type TableShape } from '../../bench/cost/aws';
import {
  eventsPerRequest,
  extrapolate,
  metricMonths,
  perMonthFromDaily,
  perMonthFromWindow,
  price,
  provisionedUnits,
  total,
  type Usage,
} from '../../bench/cost/model';
import { moduleBatching, provisionedCapacity, type Stack, stackItems } from '../../bench/cost/part';
import { FREE_TIER, PRICES, PRICES_DATE } from '../../bench/cost/prices';
import type { CfnTemplate } from '../../harness/synth';

const idle: Usage = {
  lambda: [],
  dynamodb: { rru: 0, wru: 0, gsiWru: 0, storageGb: 0, pitr: false, provisioned: { wcu: 0, rcu: 0 } },
  sqsRequests: 0,
  schedulerInvocations: 0,
  logsGb: 0,
  logRetentionDays: 30,
  metricMonths: 0,
  alarmMetrics: 0,
  dashboards: 0,
  secrets: 0,
  secretCalls: 0,
  ssmAdvancedParameters: 0,
  ssmAdvancedCalls: 0,
};

const line = (u: Usage, item: string, billing: 'on-demand' | 'provisioned' = 'on-demand') => {
  const l = price(u, billing).find((x) => x.item === item);
  if (!l) throw new Error(`no line ${item}`);
  return l;
};

describe('cost benchmark: prices', () => {
  it('is dated', () => {
    expect(PRICES_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('prices each item at its list price', () => {
    const u: Usage = {
      ...idle,
      lambda: [{ fn: 'events', requests: 2_000_000, gbSeconds: 100_000 }],
      dynamodb: { ...idle.dynamodb, rru: 8e6, wru: 1.6e6, gsiWru: 1.6e6, storageGb: 2, pitr: true },
      metricMonths: 20,
      alarmMetrics: 17,
      dashboards: 1,
      secrets: 2,
      secretCalls: 10_000,
    };
    expect(line(u, 'Lambda events: requests').usd).toBeCloseTo(0.4, 10);
    expect(line(u, 'Lambda events: GB-s').usd).toBeCloseTo(1.33334, 5);
    expect(line(u, 'DynamoDB reads (on demand)').usd).toBeCloseTo(1.0, 10);
    expect(line(u, 'DynamoDB writes, table (on demand)').usd).toBeCloseTo(1.0, 10);
    expect(line(u, 'DynamoDB writes, GSIs (on demand)').usd).toBeCloseTo(1.0, 10);
    expect(line(u, 'DynamoDB storage').usd).toBeCloseTo(0.5, 10);
    expect(line(u, 'DynamoDB point-in-time recovery').usd).toBeCloseTo(0.4, 10);
    expect(line(u, 'CloudWatch custom metrics').usd).toBeCloseTo(6, 10);
    expect(line(u, 'CloudWatch alarms').usd).toBeCloseTo(1.7, 10);
    expect(line(u, 'CloudWatch dashboards').usd).toBe(3);
    expect(line(u, 'Secrets Manager secrets').usd).toBeCloseTo(0.8, 10);
    expect(line(u, 'Secrets Manager API calls').usd).toBeCloseTo(0.05, 10);
    const t = total(price(u, 'on-demand'));
    expect(t.usd).toBeCloseTo(0.4 + 1.33334 + 3 + 0.5 + 0.4 + 6 + 1.7 + 3 + 0.8 + 0.05, 4);
  });

  it('takes the always-free tiers off only in the free column', () => {
    const u: Usage = {
      ...idle,
      lambda: [
        { fn: 'events', requests: 1_500_000, gbSeconds: 300_000 },
        { fn: 'round', requests: 500_000, gbSeconds: 300_000 },
      ],
      metricMonths: 14,
      alarmMetrics: 12,
      dashboards: 1,
    };
    // 2 M requests, 1 M free: the paid million is shared in proportion (3/4, 1/4).
    expect(line(u, 'Lambda events: requests').usdFree).toBeCloseTo(0.75 * 0.2, 10);
    expect(line(u, 'Lambda round: requests').usdFree).toBeCloseTo(0.25 * 0.2, 10);
    expect(line(u, 'Lambda events: GB-s').usdFree).toBeCloseTo(100_000 * PRICES.lambda.gbSecondArm, 8);
    expect(line(u, 'CloudWatch custom metrics').usdFree).toBeCloseTo((14 - FREE_TIER.metrics) * 0.3, 10);
    expect(line(u, 'CloudWatch alarms').usdFree).toBeCloseTo(0.2, 10);
    expect(line(u, 'CloudWatch dashboards').usdFree).toBe(0);
    expect(line(u, 'CloudWatch dashboards').usd).toBe(3);
  });

  it('prices provisioned capacity by the hour less the free capacity', () => {
    const u: Usage = { ...idle, dynamodb: { ...idle.dynamodb, provisioned: { wcu: 100, rcu: 10 } } };
    const lines = price(u, 'provisioned');
    expect(lines.some((l) => /on demand/.test(l.item))).toBe(false);
    expect(line(u, 'DynamoDB provisioned WCU (table + GSIs)', 'provisioned').usd).toBeCloseTo(100 * 730 * 0.00065, 8);
    expect(line(u, 'DynamoDB provisioned WCU (table + GSIs)', 'provisioned').usdFree).toBeCloseTo(
      75 * 730 * 0.00065,
      8,
    );
    expect(line(u, 'DynamoDB provisioned RCU (table + GSIs)', 'provisioned').usdFree).toBe(0);
  });

  it('stores the retention of logs', () => {
    const u: Usage = { ...idle, logsGb: 10, logRetentionDays: 7 };
    expect(line(u, 'CloudWatch Logs ingestion').usd).toBeCloseTo(5, 10);
    expect(line(u, 'CloudWatch Logs storage').usd).toBeCloseTo(((10 * 7) / (730 / 24)) * 0.03, 10);
  });
});

describe('cost benchmark: scaling and models', () => {
  it('scales a window to a 730-hour month', () => {
    expect(perMonthFromWindow(10, 0.5)).toBe(14_600);
  });

  it('refuses an empty window', () => {
    expect(() => perMonthFromWindow(1, 0)).toThrow();
  });

  it('scales a daily figure to a 730-hour month', () => {
    expect(perMonthFromDaily(2, 50)).toBeCloseTo(2 * 50 * (730 / 24), 10);
  });

  it('extrapolates counts linearly to all hosts', () => {
    // 10 + 3 per host: measured at 4 and 12 hosts, wanted at 100.
    const at = (h: number) => ({ calls: { put: 3 * h, reconcile: 10 }, units: 10 + 3 * h, name: 'x', ids: ['a'] });
    const out = extrapolate(at(4), at(12), 4, 12, 100);
    expect(out.units).toBeCloseTo(310, 10);
    expect(out.calls.put).toBeCloseTo(300, 10);
    expect(out.calls.reconcile).toBeCloseTo(10, 10);
    expect(out.name).toBe('x');
    expect(out.ids).toEqual(['a']);
  });

  it('counts a key missing from one run as 0', () => {
    expect(extrapolate({ r: {} as Record<string, number> }, { r: { once: 2 } }, 4, 12, 100).r.once).toBeCloseTo(24, 10);
  });

  it('never extrapolates below 0', () => {
    expect(extrapolate({ n: 5 }, { n: 1 }, 4, 12, 100).n).toBe(0);
  });

  it('takes the one run as it is when both runs had the same hosts', () => {
    expect(extrapolate({ n: 5 }, { n: 7 }, 1, 1, 1).n).toBe(7);
  });

  it('batches events by the linger as 1 + λ·L up to the batch size', () => {
    expect(eventsPerRequest(0.25, 0)).toBe(1);
    expect(eventsPerRequest(0.25, 5)).toBeCloseTo(2.25, 10);
    expect(eventsPerRequest(1000, 5, 500)).toBe(500);
  });

  it('bills a metric for the share of hours it is published in', () => {
    expect(metricMonths([{ ratePerHour: 1000, copies: 1 }])).toBeCloseTo(1, 10);
    expect(metricMonths([{ ratePerHour: 50 / 24, copies: 100 }])).toBeCloseTo(100 * (1 - Math.exp(-50 / 24)), 10);
    expect(metricMonths([{ ratePerHour: 0, copies: 5 }])).toBe(0);
  });

  it('provisions average ÷ utilization above the minimum', () => {
    expect(provisionedUnits(70, 0.7)).toBeCloseTo(100, 10);
    expect(provisionedUnits(0.01, 0.7, 3)).toBe(3);
    expect(() => provisionedUnits(1, 0)).toThrow();
  });

  it("reads the module's batching options from its source", () => {
    expect(moduleBatching('local x = module:get_option_number("ping_muc_cloud_batch_size", 500);')).toEqual({
      lingerSeconds: 0,
      batchMaxItems: 500,
    });
    expect(moduleBatching('get_option_number("ping_muc_cloud_linger", 5)').lingerSeconds).toBe(5);
  });
});

describe('cost benchmark: provisioned capacity', () => {
  const base: Stack = {
    alarmMetrics: 0,
    alarms: 0,
    dashboards: 0,
    secrets: [],
    recurringInvocations: 0,
    sqsEventSources: 0,
    pitr: false,
    tableIndexes: 1,
    autoscaling: [],
  };
  const month = 730 * 3600;

  it('sizes each scalable target at the larger of its minimum or average ÷ utilization', () => {
    const stack: Stack = {
      ...base,
      autoscaling: [
        { dimension: 'dynamodb:table:WriteCapacityUnits', min: 5, utilization: 0.7 },
        { dimension: 'dynamodb:table:ReadCapacityUnits', min: 5, utilization: 0.7 },
        { dimension: 'dynamodb:index:WriteCapacityUnits', min: 1, utilization: 0.7 },
        { dimension: 'dynamodb:index:ReadCapacityUnits', min: 1, utilization: 0.7 },
      ],
    };
    // 70 WRU/s on the table → 100 WCU; 0.7 GSI WRU/s → 1; 1 RRU/s → the minimum 5.
    const c = provisionedCapacity(stack, { wru: 70 * month, gsiWru: 0.7 * month, rru: 1 * month }, month);
    expect(c.wcu).toBeCloseTo(101, 8);
    expect(c.rcu).toBe(6);
  });

  it('gives every table or index at least 1 unit without targets in the stack', () => {
    const c = provisionedCapacity(base, { wru: 0, gsiWru: 0, rru: 0 }, month);
    expect(c).toEqual({ wcu: 2, rcu: 2 });
  });
});

describe('cost benchmark: DynamoDB rules', () => {
  const shape: TableShape = {
    keys: ['pk', 'sk'],
    indexes: [
      { name: 'all', keys: ['gpk', 'gsk'] },
      { name: 'sparse', keys: ['dpk', 'due'], include: ['state'] },
    ],
  };
  const join = { pk: { S: 'J#a' }, sk: { S: 'r|u' }, gpk: { S: 'a' }, gsk: { S: 'x|r|u' }, nick: { S: 'n' } };

  it("sizes an item by DynamoDB's rule", () => {
    expect(itemSize({ pk: { S: 'abc' } })).toBe(2 + 3);
    expect(itemSize({ n: { N: '12345' } })).toBe(1 + 4);
    expect(itemSize({ b: { BOOL: true } })).toBe(2);
  });

  it('writes a GSI once when an item enters it', () => {
    expect(gsiWriteUnits(shape, undefined, join)).toBe(1);
  });

  it('writes no GSI when the item is unchanged', () => {
    expect(gsiWriteUnits(shape, join, join)).toBe(0);
  });

  it('writes a GSI once when a projected attribute changes', () => {
    expect(gsiWriteUnits(shape, join, { ...join, nick: { S: 'm' } })).toBe(1);
  });

  it('writes a GSI once when an item leaves it', () => {
    const { gpk: _g, gsk: _s, ...tomb } = join;
    expect(gsiWriteUnits(shape, join, tomb)).toBe(1);
  });

  it('writes a GSI twice when its index key moves', () => {
    expect(gsiWriteUnits(shape, join, { ...join, gsk: { S: 'y|r|u' } })).toBe(2);
  });

  it('writes an INCLUDE index only for its projected attributes', () => {
    const round = { pk: { S: 'R#' }, sk: { S: 'g' }, dpk: { S: 'due#1' }, due: { N: '5' }, state: { S: 'a' } };
    expect(gsiWriteUnits(shape, round, { ...round, cursor: { S: 'c' } })).toBe(0);
    expect(gsiWriteUnits(shape, round, { ...round, state: { S: 'b' } })).toBe(1);
  });

  it('stores an item with 100 bytes of overhead per copy', () => {
    expect(storedBytes(shape, join)).toBe(2 * (itemSize(join) + 100));
  });
});

describe('cost benchmark: stack items from the template', () => {
  const template: CfnTemplate = {
    Parameters: { Dashboard: { Type: 'String', Default: 'false' } },
    Conditions: { HasDashboard: { 'Fn::Equals': [{ Ref: 'Dashboard' }, 'true'] } },
    Resources: {
      A1: { Type: 'AWS::CloudWatch::Alarm', Properties: { MetricName: 'Errors' } },
      A2: {
        Type: 'AWS::CloudWatch::Alarm',
        Properties: { Metrics: [{ MetricStat: {} }, { MetricStat: {} }, { Expression: 'm1+m2' }] },
      },
      D: { Type: 'AWS::CloudWatch::Dashboard', Condition: 'HasDashboard' },
      S: { Type: 'AWS::SecretsManager::Secret' },
      R: { Type: 'AWS::Scheduler::Schedule', Properties: { ScheduleExpression: 'rate(1 minute)' } },
    },
  };

  it('counts each metric of a math alarm', () => {
    expect(stackItems(template).alarmMetrics).toBe(3);
  });

  it('counts a dashboard only when its condition holds', () => {
    expect(stackItems(template).dashboards).toBe(0);
    expect(stackItems(template, { Dashboard: 'true' }).dashboards).toBe(1);
  });

  it('lists the secrets of the template', () => {
    expect(stackItems(template).secrets).toEqual(['S']);
  });

  it('counts the invocations of a recurring schedule in a month', () => {
    expect(stackItems(template).recurringInvocations).toBe(43_800);
  });
});

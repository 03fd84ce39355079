// The TableBilling parameter of the synthesized template: on demand by default; provisioned, the
// table and its index switch to PROVISIONED and Application Auto Scaling tracks 70 % of reads and
// writes between the Table*Capacity parameters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INDEXES } from '../../lib/adapters/dynamodb/table';
import { PARAMETER_DEFAULTS } from '../../infra/parameters';
import { TARGET_UTILIZATION } from '../../infra/table';
import { evaluate, type EvalContext } from '../../harness/cfn-eval';
import { props, resource, synth, type CfnTemplate, type Synth } from '../../harness/synth';

let s: Synth;
let json: CfnTemplate;
let table: string;

beforeAll(() => {
  s = synth();
  json = s.json;
  table = resource(json, 'AWS::DynamoDB::Table', 'Table')[0];
});
afterAll(() => s?.cleanup());

const ctx = (parameters: Record<string, string> = {}): EvalContext => ({
  template: json,
  parameters: { ApiUrl: 'https://xmpp.example.com:5281/ping_muc_cloud', ...parameters },
});
const PROVISIONED = {
  TableBilling: 'provisioned',
  TableMinWriteCapacity: '10',
  TableMaxWriteCapacity: '300',
  TableMinReadCapacity: '7',
  TableMaxReadCapacity: '200',
};
const tableProps = (parameters?: Record<string, string>) =>
  evaluate(ctx(parameters), props(json.Resources[table]!)) as Record<string, unknown>;
const ofType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);
const holds = (condition: string, parameters: Record<string, string>) =>
  Boolean(evaluate(ctx(parameters), json.Conditions?.[condition]));

describe('TableBilling', () => {
  it('is a parameter that defaults to on-demand', () => {
    expect(json.Parameters?.TableBilling).toMatchObject({
      Type: 'String',
      Default: 'on-demand',
      AllowedValues: ['on-demand', 'provisioned'],
    });
    for (const name of [
      'TableMinWriteCapacity',
      'TableMaxWriteCapacity',
      'TableMinReadCapacity',
      'TableMaxReadCapacity',
    ])
      expect(json.Parameters?.[name]).toMatchObject({
        Type: 'Number',
        Default: PARAMETER_DEFAULTS[name as keyof typeof PARAMETER_DEFAULTS],
      });
  });

  it('on demand leaves out every capacity setting', () => {
    const p = tableProps();
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p).not.toHaveProperty('ProvisionedThroughput');
    for (const index of p.GlobalSecondaryIndexes as Array<Record<string, unknown>>)
      expect(index).not.toHaveProperty('ProvisionedThroughput');
    expect(holds('IsTableProvisioned', {})).toBe(false);
    expect(holds('IsTableProvisioned', { TableBilling: 'on-demand' })).toBe(false);
  });

  it('provisioned scales the table with its index to 70 % utilization', () => {
    const p = tableProps(PROVISIONED);
    expect(p.BillingMode).toBe('PROVISIONED');
    expect(p.ProvisionedThroughput).toEqual({ ReadCapacityUnits: '7', WriteCapacityUnits: '10' });
    const indexes = p.GlobalSecondaryIndexes as Array<Record<string, unknown>>;
    expect(indexes).toHaveLength(INDEXES.length);
    for (const index of indexes)
      expect(index.ProvisionedThroughput).toEqual({ ReadCapacityUnits: 1, WriteCapacityUnits: 1 });
    expect(holds('IsTableProvisioned', PROVISIONED)).toBe(true);

    const targets = ofType('AWS::ApplicationAutoScaling::ScalableTarget');
    const policies = ofType('AWS::ApplicationAutoScaling::ScalingPolicy');
    // Reads and writes of the table and of each index.
    expect(targets).toHaveLength(2 * (1 + INDEXES.length));
    expect(policies).toHaveLength(targets.length);
    for (const [, r] of [...targets, ...policies]) expect(r.Condition).toBe('IsTableProvisioned');
    const scaled = targets.map(([id, r]) => {
      const v = evaluate(ctx(PROVISIONED), r.Properties) as Record<string, unknown>;
      // The service-linked role of Application Auto Scaling: no role of ours to grant.
      expect(v).not.toHaveProperty('RoleARN');
      expect(v.ServiceNamespace).toBe('dynamodb');
      return { id, dim: v.ScalableDimension, resource: v.ResourceId, min: v.MinCapacity, max: v.MaxCapacity };
    });
    const tableName = `${table}-physical`;
    expect(scaled.map(({ id: _id, ...rest }) => rest)).toEqual(
      expect.arrayContaining([
        { dim: 'dynamodb:table:ReadCapacityUnits', resource: `table/${tableName}`, min: '7', max: '200' },
        { dim: 'dynamodb:table:WriteCapacityUnits', resource: `table/${tableName}`, min: '10', max: '300' },
        ...INDEXES.flatMap((index) => [
          {
            dim: 'dynamodb:index:ReadCapacityUnits',
            resource: `table/${tableName}/index/${index.name}`,
            min: 1,
            max: '200',
          },
          {
            dim: 'dynamodb:index:WriteCapacityUnits',
            resource: `table/${tableName}/index/${index.name}`,
            min: 1,
            max: '300',
          },
        ]),
      ]),
    );
    for (const [, r] of policies) {
      const v = evaluate(ctx(PROVISIONED), r.Properties) as Record<string, unknown>;
      expect(v.PolicyType).toBe('TargetTrackingScaling');
      const config = v.TargetTrackingScalingPolicyConfiguration as Record<string, unknown>;
      expect(config.TargetValue).toBe(TARGET_UTILIZATION);
      expect(TARGET_UTILIZATION).toBe(70);
      expect(String((config.PredefinedMetricSpecification as Record<string, string>).PredefinedMetricType)).toMatch(
        /^DynamoDB(Read|Write)CapacityUtilization$/,
      );
      expect(targets.map(([id]) => id)).toContain((props(r).ScalingTargetId as { Ref: string }).Ref);
    }
  });
});

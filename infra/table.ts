// The join store's DynamoDB table. Its keys, indexes and TTL attribute come from lib's table
// definition (KEYS, INDEXES), so the deployed table is the one lib reads and writes.
import { Aws, Fn, RemovalPolicy, type CfnCondition, type CfnParameter } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { INDEXES, KEYS } from '../lib/adapters/dynamodb/table';
import type { FunctionName } from './bundling';
import { allow } from './iam';

/**
 * Exactly the DynamoDB calls each function's bundle makes (test/infra derives them from the
 * bundles and demands equality). The events function shares the store classes with the round
 * function, so its bundle holds DeleteItem too (lib/adapters/dynamodb: joins, leases).
 */
const STORE_ACTIONS = [
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;
// Kept per function, so that a bundle that stops sending a call loses its grant in one place.
export const DYNAMODB_TABLE_ACTIONS: Record<FunctionName, readonly string[]> = {
  events: STORE_ACTIONS,
  round: STORE_ACTIONS,
};
/** On the indexes only Query is meaningful. */
export const DYNAMODB_INDEX_ACTIONS = ['dynamodb:Query'] as const;

/** How the table is billed: the TableBilling parameter and, when provisioned, its capacity bounds. */
export interface TableBilling {
  /** Holds when TableBilling is `provisioned`. */
  provisioned: CfnCondition;
  minWrite: CfnParameter;
  maxWrite: CfnParameter;
  minRead: CfnParameter;
  maxRead: CfnParameter;
}

/** Auto-scaling keeps each provisioned capacity at this utilization (%). */
export const TARGET_UTILIZATION = 70;
/** An index's floor: the byDue index takes a write per close window and round step only. */
const INDEX_MIN_CAPACITY = 1;

/**
 * On demand by default, or provisioned with auto-scaling (TableBilling), point-in-time recovery, kept when the stack is deleted or the table replaced, but
 * deleted when the stack's first create rolls back (RetainExceptOnCreate: no orphan table after a
 * failed first deploy). Deletion protection is a parameter for that reason: on, it would make that
 * rollback fail. No fixed name, so a retained table never blocks a redeploy.
 */
export function joinTable(
  scope: Construct,
  id: string,
  deletionProtected: CfnCondition,
  billing?: TableBilling,
): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    partitionKey: { name: KEYS.pk, type: dynamodb.AttributeType.STRING },
    sortKey: { name: KEYS.sk, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: KEYS.ttl,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  });
  (table.node.defaultChild as dynamodb.CfnTable).deletionProtectionEnabled = Fn.conditionIf(
    deletionProtected.logicalId,
    true,
    false,
  ) as unknown as boolean;
  const types = { S: dynamodb.AttributeType.STRING, N: dynamodb.AttributeType.NUMBER } as const;
  for (const index of INDEXES) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey.name, type: types[index.sortKey.type] },
      ...(index.include
        ? { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: [...index.include] }
        : { projectionType: dynamodb.ProjectionType.ALL }),
    });
  }
  if (billing) provisionedBilling(scope, table, billing);
  return table;
}

/**
 * TableBilling = provisioned: the table and each index switch to PROVISIONED at their minimum,
 * and Application Auto Scaling (its service-linked role) tracks TARGET_UTILIZATION % of reads
 * and writes between the minimum and the maximum. On demand (the default), none of it exists.
 */
function provisionedBilling(scope: Construct, table: dynamodb.Table, billing: TableBilling): void {
  const cfn = table.node.defaultChild as dynamodb.CfnTable;
  const when = <T>(value: T) => Fn.conditionIf(billing.provisioned.logicalId, value, Aws.NO_VALUE);
  cfn.billingMode = Fn.conditionIf(billing.provisioned.logicalId, 'PROVISIONED', 'PAY_PER_REQUEST').toString();
  cfn.provisionedThroughput = when({
    ReadCapacityUnits: billing.minRead.valueAsNumber,
    WriteCapacityUnits: billing.minWrite.valueAsNumber,
  }) as unknown as dynamodb.CfnTable.ProvisionedThroughputProperty;
  INDEXES.forEach((_, i) => {
    cfn.addPropertyOverride(
      `GlobalSecondaryIndexes.${i}.ProvisionedThroughput`,
      when({ ReadCapacityUnits: INDEX_MIN_CAPACITY, WriteCapacityUnits: INDEX_MIN_CAPACITY }),
    );
  });
  const targets: Array<{ id: string; kind: 'table' | 'index'; resource: string }> = [
    { id: 'Table', kind: 'table', resource: `table/${table.tableName}` },
    ...INDEXES.map((index) => ({
      id: `Index${index.name}`,
      kind: 'index' as const,
      resource: `table/${table.tableName}/index/${index.name}`,
    })),
  ];
  for (const target of targets) {
    for (const kind of ['Read', 'Write'] as const) {
      const min = target.kind === 'table' ? billing[`min${kind}`].valueAsNumber : INDEX_MIN_CAPACITY;
      const scalable = new autoscaling.CfnScalableTarget(scope, `${target.id}${kind}Scaling`, {
        serviceNamespace: 'dynamodb',
        resourceId: target.resource,
        scalableDimension: `dynamodb:${target.kind}:${kind}CapacityUnits`,
        minCapacity: min,
        maxCapacity: billing[`max${kind}`].valueAsNumber,
      });
      scalable.cfnOptions.condition = billing.provisioned;
      const policy = new autoscaling.CfnScalingPolicy(scope, `${target.id}${kind}ScalingPolicy`, {
        policyName: `${target.id}${kind}Utilization`,
        policyType: 'TargetTrackingScaling',
        scalingTargetId: scalable.ref,
        targetTrackingScalingPolicyConfiguration: {
          targetValue: TARGET_UTILIZATION,
          predefinedMetricSpecification: { predefinedMetricType: `DynamoDB${kind}CapacityUtilization` },
        },
      });
      policy.cfnOptions.condition = billing.provisioned;
    }
  }
}

/** What a function may do in the join store: its calls on the table, Query on the indexes. */
export function joinStoreGrants(table: dynamodb.ITable, fn: FunctionName): iam.PolicyStatement[] {
  return [
    allow('JoinStoreTable', DYNAMODB_TABLE_ACTIONS[fn], [table.tableArn]),
    allow(
      'JoinStoreIndex',
      DYNAMODB_INDEX_ACTIONS,
      INDEXES.map((index) => `${table.tableArn}/index/${index.name}`),
    ),
  ];
}

// The join store's DynamoDB table. Its keys, indexes and TTL attribute come from lib's table
// definition (KEYS, INDEXES), so the deployed table is the one lib reads and writes.
import { Fn, RemovalPolicy, type CfnCondition } from 'aws-cdk-lib';
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
  'dynamodb:BatchWriteItem',
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

/**
 * On demand, point-in-time recovery, kept when the stack is deleted or the table replaced, but
 * deleted when the stack's first create rolls back (RetainExceptOnCreate: no orphan table after a
 * failed first deploy). Deletion protection is a parameter for that reason: on, it would make that
 * rollback fail. No fixed name, so a retained table never blocks a redeploy.
 */
export function joinTable(scope: Construct, id: string, deletionProtected: CfnCondition): dynamodb.Table {
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
  return table;
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

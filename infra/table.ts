// The join store's DynamoDB table. Its keys, GSI and TTL attribute come from lib's table
// definition (KEYS), so the deployed table is the one lib reads and writes.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { KEYS } from '../lib/adapters/dynamodb/table';
import { allow } from './iam';

/** Exactly the DynamoDB calls lib/ makes (test/infra checks the bundles against this list). */
export const DYNAMODB_TABLE_ACTIONS = [
  'dynamodb:BatchWriteItem',
  'dynamodb:DeleteItem',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;
/** On the GSI only Query is meaningful. */
export const DYNAMODB_INDEX_ACTIONS = ['dynamodb:Query'] as const;

/**
 * On demand, point-in-time recovery, deletion protection and retained with the stack: the joins
 * outlive a tear-down. No fixed name, so a retained table never blocks a redeploy.
 */
export function joinTable(scope: Construct, id: string): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    partitionKey: { name: KEYS.pk, type: dynamodb.AttributeType.STRING },
    sortKey: { name: KEYS.sk, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: KEYS.ttl,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  table.addGlobalSecondaryIndex({
    indexName: KEYS.gsi,
    partitionKey: { name: KEYS.gpk, type: dynamodb.AttributeType.STRING },
    sortKey: { name: KEYS.gsk, type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  return table;
}

/** What every function may do in the join store: lib's calls on the table, Query on the GSI. */
export function joinStoreGrants(table: dynamodb.ITable): iam.PolicyStatement[] {
  return [
    allow('JoinStoreTable', DYNAMODB_TABLE_ACTIONS, [table.tableArn]),
    allow('JoinStoreIndex', DYNAMODB_INDEX_ACTIONS, [`${table.tableArn}/index/${KEYS.gsi}`]),
  ];
}

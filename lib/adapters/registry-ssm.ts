// The host registry on AWS: an SSM parameter (String, JSON), so an operator changes it without a
// deploy (docs/hosts.md). Read with GetParameter by name or ARN; cached by lib/support/registry.ts.
// The SDK client is loaded on first use: a single-host deployment never loads it.
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SDK_CLIENT } from '../support/config';
import type { RegistrySource } from '../support/registry';

let shared: SSMClient | undefined;

export function ssmRegistrySource(name: string, client?: SSMClient): RegistrySource {
  return async () => {
    const { SSMClient, GetParameterCommand } = await import('@aws-sdk/client-ssm');
    const ssm = client ?? (shared ??= new SSMClient({ ...SDK_CLIENT }));
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    const value = out.Parameter?.Value;
    if (!value) throw new Error(`SSM parameter ${name} has no value`);
    return value;
  };
}

// One allow statement, named: every grant of the stack says why it exists in its Sid.
import * as iam from 'aws-cdk-lib/aws-iam';

export function allow(
  sid: string,
  actions: readonly string[],
  resources: string[],
  conditions?: Record<string, unknown>,
): iam.PolicyStatement {
  return new iam.PolicyStatement({ sid, actions: [...actions], resources, ...(conditions ? { conditions } : {}) });
}

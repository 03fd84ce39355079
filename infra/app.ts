// CDK app entry: `npm run synth` / `npm run deploy` (cdk … --app 'tsx infra/app.ts').
// Env-agnostic (no account/region lookups): the same template deploys anywhere.
// Optional context: -c stackName=MyPingMuc (default PingMuc).
import { buildApp } from './stack';

const { app } = buildApp();
app.synth();

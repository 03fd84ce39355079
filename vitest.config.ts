import { configDefaults, defineConfig } from 'vitest/config';

// Node 20 is supported here; the SDK's notice about its future Node 22 floor is noise in tests.
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const E2E = 'test/e2e/**/*.test.ts';

// The end-to-end suite runs once per Prosody version (harness/prosody-version.ts): Debian 12's
// 0.12 and bookworm-backports' 13, unpacked by scripts/ensure-prosody-13.sh. A version that cannot
// run fails its project. One version only: `npx vitest run --project 'e2e prosody 13' test/e2e/x.test.ts`.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    env,
    projects: [
      // Everything else, including test/runtime/ (the Lambda bundles under Node 22).
      {
        extends: true,
        test: { name: 'ping-muc', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, E2E] },
      },
      { extends: true, test: { name: 'e2e prosody 0.12', include: [E2E], env: { ...env, PING_MUC_PROSODY: '0.12' } } },
      { extends: true, test: { name: 'e2e prosody 13', include: [E2E], env: { ...env, PING_MUC_PROSODY: '13' } } },
    ],
  },
});

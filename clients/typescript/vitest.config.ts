import { defineConfig } from "vitest/config";

// The suites in test/ drive a running stack (started by the e2e harness,
// `cargo test -p e2e --test clients`): one file at a time, because some
// count refreshes in auth-service's /metrics and must be alone in doing so.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

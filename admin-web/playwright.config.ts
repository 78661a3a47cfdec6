import { defineConfig } from "@playwright/test";

// The panel in a real browser: Debian's chromium (apt), headless, against
// the stack whose gateway SHOP_BASE_URL names (the e2e harness starts one:
// `cargo test -p e2e --test admin_panel`). No browser is downloaded.
export default defineConfig({
  testDir: "tests",
  timeout: 180_000,
  expect: { timeout: 15_000 },
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.SHOP_BASE_URL,
    headless: true,
    viewport: { width: 1280, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});

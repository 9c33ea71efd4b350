import { defineConfig } from "@playwright/test";
import * as path from "path";
import chromiumFlags from "./chromium-flags.json";

// The server under test: the release build that `cargo leptos build --release`
// made, on a throwaway PostgreSQL cluster (tweetgen-pg), with the demo users;
// a second instance on the same database at port + 1 (end2end/two-instances.sh).
const root = path.resolve(__dirname, "..");
const port = Number(process.env.E2E_PORT ?? 3100);
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL,
    // English unless a test asks for Japanese (the UI follows Accept-Language).
    locale: "en-US",
    trace: "retain-on-failure",
    browserName: "chromium",
    launchOptions: {
      // Debian's chromium: Playwright's own browser download cannot work offline.
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      // Shared with bench/pages (Lighthouse and the visits there run the same browser).
      args: chromiumFlags,
    },
  },
  webServer: {
    // Two instances on one database (end2end/two-instances.sh): port and port + 1.
    command: `${root}/target/debug/tweetgen-pg run -- ${root}/end2end/two-instances.sh ${root}/target/release/tweetgen-server`,
    cwd: root,
    url: `${baseURL}/readyz`,
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: "pipe",
    stderr: "pipe",
    gracefulShutdown: { signal: "SIGTERM", timeout: 10_000 },
    env: {
      E2E_PORT: String(port),
      TWEETGEN__SEED_DEMO_USERS: "true",
      // "Sign in with X" against the stand-in the server serves at /standin-x.
      TWEETGEN__AUTH__STANDIN: "true",
      // The tests look for their generations in the ranking straight away.
      TWEETGEN__RANKING__REFRESH_SECS: "0",
      // Visitors are told apart by X-Forwarded-For, as behind the ALB.
      TWEETGEN__SERVER__PROXY_HOPS: "1",
      // Functional tests, all from one address: the limits have API tests of their own.
      ...Object.fromEntries(
        ["GENERATE", "SIGN_IN", "TRAIN", "RENDER_CARD"].flatMap((action) =>
          ["PER_MINUTE", "BURST"].map((key) => [`TWEETGEN__RATE_LIMITS__${action}__${key}`, "1000000"]),
        ),
      ),
      LEPTOS_SITE_ROOT: `${root}/target/site`,
      RUST_LOG: "warn",
    },
  },
});

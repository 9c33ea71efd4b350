// Page speed of a running tweetgen in Debian's chromium, as a person on a phone meets it.
//
// For each page: Lighthouse 12 (mobile preset, simulated slow 4G and 4x CPU) for Largest
// Contentful Paint, Total Blocking Time and the bytes of a first visit; then, over the
// Chrome DevTools Protocol with the same network and CPU applied, a first and a second
// visit in one browser profile: bytes that crossed the network (encoded), requests answered
// from the cache, and the time until the page is hydrated (the hydrate entry marks the
// body `data-hydrated`). Medians of BENCH_RUNS runs. Prints a table; writes the raw runs
// as JSON to the path given as the second argument.
//
// Usage: node bench/pages/measure.mjs BASE_URL OUT.json   (bench/pages.sh runs it)

import { execFileSync } from "node:child_process";
import { writeFileSync, readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, out] = process.argv.slice(2);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const pages = (process.env.BENCH_PAGES ?? "/,/@tweetgen_neko").split(",");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// The browser tests' flags; Lighthouse wants the new headless mode named.
const chromeFlags = JSON.parse(readFileSync(new URL("../../end2end/chromium-flags.json", import.meta.url), "utf8"))
  .map((flag) => (flag === "--headless" ? "--headless=new" : flag));
// Lighthouse's mobile preset: slow 4G (150 ms RTT, 1.6 Mbit/s down, 750 kbit/s up), 4x CPU.
const network = { offline: false, latency: 150, downloadThroughput: (1.6e6 / 8) * 0.9, uploadThroughput: (750e3 / 8) * 0.9 };
const cpuSlowdown = 4;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

function lighthouse(url) {
  const dir = mkdtempSync(join(tmpdir(), "tweetgen-lh-"));
  const report = join(dir, "report.json");
  const cli = new URL("./node_modules/lighthouse/cli/index.js", import.meta.url).pathname;
  execFileSync(
    process.execPath,
    [cli, url, "--quiet", "--only-categories=performance", "--output=json", `--output-path=${report}`,
      `--chrome-flags=${chromeFlags.join(" ")}`],
    { env: { ...process.env, CHROME_PATH: chromiumPath }, stdio: ["ignore", "ignore", "inherit"] },
  );
  const { audits, categories } = JSON.parse(readFileSync(report, "utf8"));
  const value = (id) => audits[id].numericValue;
  return {
    score: categories.performance.score * 100,
    lcpMs: value("largest-contentful-paint"),
    tbtMs: value("total-blocking-time"),
    fcpMs: value("first-contentful-paint"),
    bytes: value("total-byte-weight"),
  };
}

/** One visit: bytes over the network, requests served from the cache, time to hydrated. */
async function visit(page, cdp, url) {
  const requests = new Map();
  const onRequest = (event) => {
    const entry = requests.get(event.requestId) ?? {};
    entry.url = event.request.url;
    requests.set(event.requestId, entry);
  };
  const onResponse = (event) => {
    const entry = requests.get(event.requestId) ?? {};
    entry.url = event.response.url;
    entry.cached = event.response.fromDiskCache || event.response.fromPrefetchCache || false;
    entry.encoding = event.response.headers["content-encoding"] ?? event.response.headers["Content-Encoding"] ?? "";
    requests.set(event.requestId, entry);
  };
  const onCached = (event) => {
    const entry = requests.get(event.requestId) ?? {};
    entry.cached = true;
    requests.set(event.requestId, entry);
  };
  const onFinished = (event) => {
    const entry = requests.get(event.requestId) ?? {};
    entry.bytes = event.encodedDataLength;
    requests.set(event.requestId, entry);
  };
  cdp.on("Network.requestWillBeSent", onRequest);
  cdp.on("Network.responseReceived", onResponse);
  cdp.on("Network.requestServedFromCache", onCached);
  cdp.on("Network.loadingFinished", onFinished);
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-hydrated]", { state: "attached", timeout: 60_000 });
  const hydratedMs = await page.evaluate(() => window.__hydratedAt);
  await page.waitForLoadState("networkidle");
  cdp.off("Network.requestWillBeSent", onRequest);
  cdp.off("Network.responseReceived", onResponse);
  cdp.off("Network.requestServedFromCache", onCached);
  cdp.off("Network.loadingFinished", onFinished);
  // A memory-cache hit may come without requestServedFromCache: nothing crossed the network.
  const list = [...requests.values()]
    .filter((entry) => entry.url && !entry.url.startsWith("data:"))
    .map((entry) => ({ ...entry, cached: entry.cached || entry.bytes === 0 }));
  return {
    hydratedMs,
    bytes: list.reduce((sum, entry) => sum + (entry.cached ? 0 : entry.bytes ?? 0), 0),
    requests: list.length,
    fromCache: list.filter((entry) => entry.cached).length,
    wasmEncoding: list.find((entry) => entry.url.endsWith(".wasm"))?.encoding ?? "",
  };
}

async function visits(browser, url) {
  const context = await browser.newContext();
  // The moment the hydrate entry marks the body, from the navigation's start.
  await context.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.body?.hasAttribute("data-hydrated")) {
        window.__hydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-hydrated"] });
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", network);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: cpuSlowdown });
  const first = await visit(page, cdp, url);
  const second = await visit(page, cdp, url);
  await context.close();
  return { first, second };
}

const results = [];
const browser = await chromium.launch({ executablePath: chromiumPath, args: chromeFlags });
for (const path of pages) {
  const url = new URL(path, base).href;
  for (let run = 0; run < runs; run++) {
    const lh = lighthouse(url);
    const { first, second } = await visits(browser, url);
    results.push({ path, run, lighthouse: lh, first, second });
    process.stderr.write(`  ${path} run ${run + 1}/${runs}: LCP ${Math.round(lh.lcpMs)} ms, hydrated ${Math.round(first.hydratedMs)} ms\n`);
  }
}
await browser.close();
writeFileSync(out, JSON.stringify(results, null, 2));

const kB = (bytes) => (bytes / 1024).toFixed(1);
const ms = (value) => String(Math.round(value));
const rows = [["page", "LH score", "LCP ms", "TBT ms", "FCP ms", "LH bytes kB", "1st visit kB", "1st hydrated ms",
  "2nd visit kB", "2nd from cache", "2nd hydrated ms", "wasm encoding"]];
for (const path of pages) {
  const mine = results.filter((result) => result.path === path);
  const pick = (f) => median(mine.map(f));
  rows.push([
    path,
    ms(pick((r) => r.lighthouse.score)),
    ms(pick((r) => r.lighthouse.lcpMs)),
    ms(pick((r) => r.lighthouse.tbtMs)),
    ms(pick((r) => r.lighthouse.fcpMs)),
    kB(pick((r) => r.lighthouse.bytes)),
    kB(pick((r) => r.first.bytes)),
    ms(pick((r) => r.first.hydratedMs)),
    kB(pick((r) => r.second.bytes)),
    `${pick((r) => r.second.fromCache)}/${pick((r) => r.second.requests)}`,
    ms(pick((r) => r.second.hydratedMs)),
    mine[0].first.wasmEncoding || "none",
  ]);
}
const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
for (const [index, row] of rows.entries()) {
  console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join("  "));
  if (index === 0) console.log(widths.map((width) => "-".repeat(width)).join("  "));
}
console.log(`\nmedians of ${runs} runs; Lighthouse ${JSON.parse(readFileSync(new URL("./node_modules/lighthouse/package.json", import.meta.url))).version} mobile preset (simulated slow 4G, 4x CPU); visits over CDP with slow 4G (150 ms, 1.44 Mbit/s down) and 4x CPU applied`);

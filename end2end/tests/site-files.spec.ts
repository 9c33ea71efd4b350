import { test, expect, Page } from "@playwright/test";
import { hydrated } from "./helpers";

/** The site's files the page loads: tweetgen.<hash>.{js,wasm,css}. */
const SITE_FILE = /\/pkg\/tweetgen\.[A-Za-z0-9_-]+\.(js|wasm|css)$/;

/** Visits `path` and returns the site files' responses that came over the network. */
async function visit(page: Page, path: string): Promise<{ fetched: string[]; fromCache: string[] }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const fetched: string[] = [];
  const fromCache: string[] = [];
  const cached = new Set<string>();
  cdp.on("Network.requestServedFromCache", (event) => cached.add(event.requestId));
  cdp.on("Network.responseReceived", (event) => {
    if (!SITE_FILE.test(new URL(event.response.url).pathname)) return;
    const fromAnyCache = event.response.fromDiskCache || cached.has(event.requestId);
    (fromAnyCache ? fromCache : fetched).push(new URL(event.response.url).pathname);
  });
  await page.goto(path);
  await hydrated(page);
  await page.waitForLoadState("networkidle");
  await cdp.detach();
  return { fetched, fromCache };
}

test("site files have hashed names, are sent with brotli and cached for a year; pages are revalidated", async ({ page }) => {
  const responses = new Map<string, { encoding: string; cacheControl: string; vary: string }>();
  page.on("response", async (response) => {
    const path = new URL(response.url()).pathname;
    if (SITE_FILE.test(path)) {
      const headers = await response.allHeaders();
      expect(response.status()).toBe(200);
      responses.set(path, {
        encoding: headers["content-encoding"] ?? "",
        cacheControl: headers["cache-control"] ?? "",
        vary: headers["vary"] ?? "",
      });
    }
  });
  const document = await page.goto("/");
  const headers = await document!.allHeaders();
  expect(headers["cache-control"]).toBe("private, no-cache");
  expect(headers["content-encoding"]).toBe("gzip");
  await hydrated(page);
  await page.waitForLoadState("networkidle");
  expect([...responses.keys()].map((path) => path.split(".").pop()).sort()).toEqual(["css", "js", "wasm"]);
  for (const [path, { encoding, cacheControl, vary }] of responses) {
    expect(encoding, path).toBe("br");
    expect(vary, path).toBe("accept-encoding");
    expect(cacheControl, path).toBe("public, max-age=31536000, immutable");
  }
});

test("a second visit takes every site file from the cache and hydrates", async ({ page }) => {
  const first = await visit(page, "/");
  expect(first.fetched.length).toBe(3);
  const second = await visit(page, "/@tweetgen_neko");
  expect(second.fetched).toEqual([]);
  expect(second.fromCache.sort()).toEqual(first.fetched.sort());
});

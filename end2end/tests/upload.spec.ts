import { test, expect, Page } from "@playwright/test";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hydrated, signIn, uniqueName, watchForErrors } from "./helpers";

// Real-format X archive files (and broken ones), written once for this file.
const fixtures = fs.mkdtempSync(path.join(os.tmpdir(), "tweetgen-e2e-archives-"));
const expected = (() => {
  execFileSync("python3", [path.join(__dirname, "..", "fixtures", "make_archives.py"), fixtures]);
  return JSON.parse(fs.readFileSync(path.join(fixtures, "fixtures.json"), "utf8"));
})();

async function chooseAndUpload(page: Page, file: string): Promise<void> {
  await page.getByLabel(/Your X archive/).setInputFiles(path.join(fixtures, file));
  await page.getByRole("button", { name: "Upload and learn" }).click();
}

/** Records every text the upload status line shows, however briefly. */
async function recordStatuses(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = ((window as any).__statuses = []);
    new MutationObserver(() => {
      for (const status of document.querySelectorAll(".progress[role=status]")) {
        const text = status.textContent ?? "";
        if (seen[seen.length - 1] !== text) seen.push(text);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

test("hydrated: bad files are explained, then an archive teaches, with progress shown", async ({ page }) => {
  const errors = watchForErrors(page);
  const name = uniqueName("up_");
  await signIn(page, name);
  await hydrated(page);

  await chooseAndUpload(page, "broken.js");
  const broken = expected["broken.js"];
  await expect(page.getByRole("alert")).toHaveText(
    `broken.js is damaged at line ${broken.line}, column ${broken.column}: the JSON there is broken.`,
  );
  await page.screenshot({ path: "screenshots/upload-broken-json.png", fullPage: true });
  await chooseAndUpload(page, "invalid-utf8.js");
  const invalid = expected["invalid-utf8.js"];
  await expect(page.getByRole("alert")).toContainText(`line ${invalid.line}, column ${invalid.column}`);
  await chooseAndUpload(page, "bomb.zip");
  await expect(page.getByRole("alert")).toContainText("unpack to more than 256 MB");
  await chooseAndUpload(page, "too-large.js");
  await expect(page.getByRole("alert")).toContainText("larger than 32 MB");

  // A slow uplink, so that the upload takes a moment and its progress shows.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 20,
    downloadThroughput: -1,
    uploadThroughput: 64 * 1024,
  });
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await recordStatuses(page);
  await chooseAndUpload(page, "tweets.js");
  await expect(page.getByRole("status")).toContainText(/Uploading… \d+%/);
  await page.screenshot({ path: "screenshots/upload-progress.png", fullPage: true });
  await expect(page).toHaveURL(new RegExp(`/@${name}$`), { timeout: 30_000 });
  await expect(page.getByText(/Learned \d+ sentences/)).toBeVisible();
  const statuses: string[] = await page.evaluate(() => (window as any).__statuses);
  expect(statuses.some((s) => /Uploading… [1-9]\d*%/.test(s))).toBe(true);
  expect(statuses).toContain("Reading your archive and learning…");
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).not.toBeEmpty();
  expect(errors.filter((e) => !/status of (413|422)/.test(e))).toEqual([]);
});

/** Generates a tweet that starts with the long post's last word: found only in its note's full text. */
async function expectLongPostsLearnedInFull(page: Page, word: string): Promise<void> {
  await page.getByLabel("Start with").fill(word);
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).toContainText(word);
}

test("hydrated: a whole 2 GiB archive as X sends it, of which only the tweets files are sent", async ({ page }) => {
  test.setTimeout(180_000);
  const errors = watchForErrors(page);
  // Built here, not kept: 2 GiB of stored media, then the tweets files, past 2 GiB (zip64).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tweetgen-e2e-whole-"));
  try {
    execFileSync("python3", [path.join(__dirname, "..", "fixtures", "make_archives.py"), dir, "--whole-archive-gib", "2"]);
    const whole = path.join(dir, "whole-archive.zip");
    const wanted = JSON.parse(fs.readFileSync(path.join(dir, "fixtures.json"), "utf8"))["whole-archive.zip"];
    const name = uniqueName("whole_");
    await signIn(page, name);
    await hydrated(page);
    await expect(page.getByTestId("archive-hint")).toContainText("Only your tweets files are sent");
    await expect(page.getByTestId("archive-hint")).toContainText("stay on your computer");

    const sent: number[] = [];
    page.on("request", async (request) => {
      if (request.url().endsWith("/api/upload_archive")) sent.push(Number((await request.allHeaders())["content-length"]));
    });
    await recordStatuses(page);
    const started = Date.now();
    await page.getByLabel(/Your X archive/).setInputFiles(whole);
    await page.locator("section.learn").screenshot({ path: "screenshots/archive-picker.png" });
    await page.getByRole("button", { name: "Upload and learn" }).click();
    await expect(page).toHaveURL(new RegExp(`/@${name}$`), { timeout: 60_000 });
    const seconds = (Date.now() - started) / 1000;
    await expect(page.getByText(/Learned \d+ sentences/)).toBeVisible();
    const statuses: string[] = await page.evaluate(() => (window as any).__statuses);
    expect(statuses.some((s) => /Sending only your tweets files \(\d+ kB of the 2\.1 GB archive\)/.test(s))).toBe(true);
    expect(sent.length).toBe(1);
    expect(sent[0]).toBeLessThan(100_000);
    const size = fs.statSync(whole).size;
    console.log(`whole archive: ${size} bytes chosen, ${sent[0]} bytes sent, learned after ${seconds.toFixed(1)} s`);
    fs.writeFileSync(test.info().outputPath("whole-archive.json"), JSON.stringify({ size, sent: sent[0], seconds }) + "\n");
    await expectLongPostsLearnedInFull(page, wanted.long_post_word);
    expect(errors).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the server reads tweets parts and long posts' notes from a zip", async ({ page }) => {
    const name = uniqueName("notesnojs_");
    await signIn(page, name);
    await expect(page.getByTestId("archive-hint")).toContainText("Without JavaScript the file is sent whole");
    await chooseAndUpload(page, "archive-notes.zip");
    await expect(page).toHaveURL(new RegExp(`/@${name}$`));
    await expectLongPostsLearnedInFull(page, expected["archive-notes.zip"].long_post_word);
  });

  test("errors come back to the form, then the archive zip teaches", async ({ page }) => {
    const name = uniqueName("upnojs_");
    await signIn(page, name);
    await chooseAndUpload(page, "broken.js");
    await expect(page.getByRole("alert")).toContainText(`broken.js is damaged at line ${expected["broken.js"].line}`);

    await chooseAndUpload(page, "too-large.js");
    await expect(page.getByRole("alert")).toContainText("larger than 32 MB");
    await page.screenshot({ path: "screenshots/upload-too-large-nojs.png", fullPage: true });
    await page.goto("/");

    await chooseAndUpload(page, "archive.zip");
    await expect(page).toHaveURL(new RegExp(`/@${name}$`));
    await expect(page.getByText(/Learned \d+ sentences/)).toBeVisible();
  });
});

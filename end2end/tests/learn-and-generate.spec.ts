import { test, expect, Page } from "@playwright/test";

const TWEETS = [
  "今日は良い天気ですね。",
  "今日は雨が降っています。",
  "明日は良い天気になるでしょう。",
  "Rustで書くと速い。",
].join("\n");

/** Fails the test on any console error or failed page script. */
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

function uniqueName(prefix: string): string {
  return `${prefix}${Date.now() % 1_000_000}`;
}

test("hydrated: learn and generate without a page reload", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto("/");
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  // A reload would wipe this marker.
  await page.evaluate(() => ((window as any).__sameDocument = true));

  const name = uniqueName("js_");
  await page.getByLabel("Screen name").fill(name);
  await page.getByLabel(/Your tweets/).fill(TWEETS);
  await page.getByRole("button", { name: "Learn" }).click();
  await expect(page).toHaveURL(new RegExp(`/@${name}$`));
  await expect(page.getByRole("heading", { name: `@${name}` })).toBeVisible();
  await expect(page.getByText("Learned 4 sentences")).toBeVisible();

  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  await expect(card).toBeVisible();
  await expect(card.locator(".tweet-text")).not.toBeEmpty();
  expect(page.url()).not.toContain("tweet=");
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await page.screenshot({ path: "screenshots/hydrated-generate.png", fullPage: true });

  // A second click replaces the card in place with a new generation.
  const firstPermalink = (await card.locator("footer a").textContent()) ?? "";
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(card.locator("footer a")).not.toHaveText(firstPermalink);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expect(errors).toEqual([]);
});

test("hydrated: a bad screen name is explained in place", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto("/");
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await page.getByLabel("Screen name").fill("not valid!");
  await page.getByLabel(/Your tweets/).fill(TWEETS);
  await page.getByRole("button", { name: "Learn" }).click();
  await expect(page.getByRole("alert")).toHaveText("A screen name is 1 to 15 letters, digits or underscores.");
  await expect(page).toHaveURL(/\/$/);
  // The browser logs the refused request itself; nothing else may fail.
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
});

/** Teaches TWEETS under a fresh name and opens that user's page. */
async function learn(page: Page, prefix: string): Promise<string> {
  await page.goto("/");
  const name = uniqueName(prefix);
  await page.getByLabel("Screen name").fill(name);
  await page.getByLabel(/Your tweets/).fill(TWEETS);
  await page.getByRole("button", { name: "Learn" }).click();
  await expect(page).toHaveURL(new RegExp(`/@${name}$`));
  return name;
}

test("hydrated: start words and a length limit", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto("/");
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
  await learn(page, "opt_");
  await page.getByLabel("Start with").fill("明日");
  await page.getByLabel("At most").fill("40");
  await page.getByRole("button", { name: "Generate" }).click();
  const text = page.getByTestId("generated-tweet").locator(".tweet-text");
  await expect(text).toHaveText(/^明日/);
  expect(((await text.textContent()) ?? "").length).toBeLessThanOrEqual(40);
  await page.screenshot({ path: "screenshots/generate-options.png", fullPage: true });

  await page.getByLabel("Start with").fill("宇宙");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByRole("alert")).toContainText("Try other start words");
  expect(errors.filter((e) => !e.includes("status of 422"))).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("learn, generate and see the permalink", async ({ page }) => {
    await page.goto("/");
    const name = uniqueName("nojs_");
    await page.getByLabel("Screen name").fill(name);
    await page.getByLabel(/Your tweets/).fill(TWEETS);
    await page.getByRole("button", { name: "Learn" }).click();
    await expect(page).toHaveURL(new RegExp(`/@${name}$`));

    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page).toHaveURL(new RegExp(`/@${name}\\?tweet=\\d+$`));
    await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).not.toBeEmpty();
    await page.screenshot({ path: "screenshots/nojs-generate.png", fullPage: true });
  });

  test("start words without JavaScript", async ({ page }) => {
    await learn(page, "nojsopt_");
    await page.getByLabel("Start with").fill("今日");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page).toHaveURL(/\?tweet=\d+$/);
    await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).toHaveText(/^今日/);
  });

  test("errors come back to the form", async ({ page }) => {
    await page.goto("/");
    await page.getByLabel("Screen name").fill("no_tweets_here");
    await page.getByLabel(/Your tweets/).fill("RT @someone: not mine");
    await page.getByRole("button", { name: "Learn" }).click();
    await expect(page.getByRole("alert")).toContainText("No tweets were left to learn from");
  });
});

test("demo users are there to try", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("link", { name: "@tweetgen_neko" }).click();
  await expect(page.getByRole("heading", { name: "@tweetgen_neko" })).toBeVisible();
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  await expect(card.locator(".tweet-text")).not.toBeEmpty();
  await expect(card.locator("footer")).toContainText("@tweetgen_neko");
  await page.screenshot({ path: "screenshots/demo-user.png", fullPage: true });
});

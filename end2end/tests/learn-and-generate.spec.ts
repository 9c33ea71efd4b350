import { test, expect, Page } from "@playwright/test";
import { hydrated, learn, paste, signIn, uniqueName, watchForErrors, TWEETS } from "./helpers";

/**
 * One tweet of 186 characters, every pair of words in it once: each draw from it is
 * the tweet itself, too long for X with the link (each character counts 2).
 */
const LONG_TWEET = "今年の旅で訪ねた街は札幌、函館、旭川、小樽、釧路、青森、弘前、盛岡、仙台、秋田、会津、水戸、宇都宮、日光、前橋、川越、千葉、船橋、東京、横浜、鎌倉、箱根、新潟、富山、金沢、福井、甲府、長野、松本、岐阜、静岡、浜松、名古屋、伊勢、大津、京都、大阪、神戸、奈良、鳥取、松江、倉敷、広島、尾道、徳島、高松、高知、福岡、博多、佐賀、長崎、熊本、大分、別府、宮崎、鹿児島、那覇でした";

/** X's count (twitter-text v3) of a text without links or emoji. */
function xWeight(text: string): number {
  let weight = 0;
  for (const c of text.normalize("NFC")) {
    const code = c.codePointAt(0) ?? 0;
    const narrow =
      code <= 0x10ff ||
      (code >= 0x2000 && code <= 0x200d) ||
      (code >= 0x2010 && code <= 0x201f) ||
      (code >= 0x2032 && code <= 0x2037);
    weight += narrow ? 1 : 2;
  }
  return weight;
}
/** What X adds to the text: " " + the link (23), " #tweetgen". */
const X_EXTRAS = 1 + 23 + 1 + 9;

/**
 * Draws LONG_TWEET: its Post to X link sends it cut after a whole word with "…", and the
 * card shows X's count of the post, at most 280 and close to it.
 */
async function expectCutToFit(page: Page): Promise<void> {
  await page.getByLabel("At most").fill("280");
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  await expect(card.locator(".tweet-text")).toHaveText(LONG_TWEET);
  expect(xWeight(LONG_TWEET) + X_EXTRAS).toBeGreaterThan(280);
  const href = await card.getByRole("link", { name: "Post to X" }).getAttribute("href");
  const intent = new URL(href ?? "");
  expect(intent.origin + intent.pathname).toBe("https://x.com/intent/tweet");
  const posted = intent.searchParams.get("text") ?? "";
  expect(posted.endsWith("…")).toBe(true);
  const kept = posted.slice(0, -1);
  expect(LONG_TWEET.startsWith(kept)).toBe(true);
  // After a city's whole name (the word boundaries here are the commas).
  expect(LONG_TWEET.slice(kept.length).startsWith("、") || kept.endsWith("、")).toBe(true);
  const count = xWeight(posted) + X_EXTRAS;
  expect(count).toBeLessThanOrEqual(280);
  expect(count).toBeGreaterThan(270);
  await expect(card.getByTestId("x-count")).toHaveText(new RegExp(`^${count}/280`));
  await expect(card.getByTestId("x-count")).toContainText("shortened to fit");
}

test("hydrated: sign in, learn and generate without a page reload", async ({ page }) => {
  const errors = watchForErrors(page);
  const name = uniqueName("js_");
  await signIn(page, name);
  await hydrated(page);
  // A reload would wipe this marker.
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await paste(page, TWEETS);
  await page.getByRole("button", { name: "Learn", exact: true }).click();
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
  const firstPermalink = (await card.locator("footer a").first().textContent()) ?? "";
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(card.locator("footer a").first()).not.toHaveText(firstPermalink);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expect(errors).toEqual([]);
});

test("hydrated: the Post to X link carries the tweet, #tweetgen and the page", async ({ page }) => {
  const name = await learn(page, "share_");
  await hydrated(page);
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  const text = (await card.locator(".tweet-text").textContent()) ?? "";
  const permalink = await card.locator("footer a").first().getAttribute("href");
  const href = await card.getByRole("link", { name: "Post to X" }).getAttribute("href");
  const intent = new URL(href ?? "");
  expect(intent.origin + intent.pathname).toBe("https://x.com/intent/tweet");
  expect(intent.searchParams.get("text")).toBe(text);
  await expect(card.getByTestId("x-count")).toHaveText(`${xWeight(text) + X_EXTRAS}/280`);
  expect(intent.searchParams.get("hashtags")).toBe("tweetgen");
  expect(intent.searchParams.get("url")).toBe(new URL(permalink ?? "", page.url()).href);
  expect(permalink).toContain(`/@${name}?tweet=`);
  await card.screenshot({ path: "screenshots/tweet-card.png" });
});

test("hydrated: a long Japanese tweet is cut at a word to fit X's 280", async ({ page }) => {
  await learn(page, "long_", { tweets: LONG_TWEET });
  await hydrated(page);
  await expectCutToFit(page);
  await page.getByTestId("generated-tweet").screenshot({ path: "screenshots/tweet-card-cut.png" });
});

test("hydrated: start words and a length limit", async ({ page }) => {
  const errors = watchForErrors(page);
  await learn(page, "opt_");
  await hydrated(page);
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

test("hydrated: retraining too soon is explained and keeps the model", async ({ page }) => {
  const errors = watchForErrors(page);
  await learn(page, "again_");
  await page.goto("/");
  await hydrated(page);
  await paste(page, "まったく別の文章です。");
  await page.getByRole("button", { name: "Learn", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("You trained recently: you can train again in 24 h");
  await page.screenshot({ path: "screenshots/retrain-too-soon.png", fullPage: true });
  expect(errors.filter((e) => !e.includes("status of 429"))).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign in, learn, generate and see the permalink", async ({ page }) => {
    const name = await learn(page, "nojs_");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page).toHaveURL(new RegExp(`/@${name}\\?tweet=\\d+$`));
    const card = page.getByTestId("generated-tweet");
    await expect(card.locator(".tweet-text")).not.toBeEmpty();
    await expect(card.getByRole("link", { name: "Post to X" })).toHaveAttribute("href", /hashtags=tweetgen/);
    await page.screenshot({ path: "screenshots/nojs-generate.png", fullPage: true });
  });

  test("a long tweet is cut to fit X without JavaScript", async ({ page }) => {
    await learn(page, "nojslong_", { tweets: LONG_TWEET });
    await expectCutToFit(page);
    await expect(page).toHaveURL(/\?tweet=\d+$/);
  });

  test("start words without JavaScript", async ({ page }) => {
    await learn(page, "nojsopt_");
    await page.getByLabel("Start with").fill("今日");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page).toHaveURL(/\?tweet=\d+$/);
    await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).toHaveText(/^今日/);
  });

  test("errors come back to the form", async ({ page }) => {
    await signIn(page, uniqueName("nojserr_"));
    await paste(page, "RT @someone: not mine");
    await page.getByRole("button", { name: "Learn", exact: true }).click();
    await expect(page.getByRole("alert")).toContainText("No tweets were left to learn from");
  });
});

test("demo users are there to try", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("link", { name: "@tweetgen_neko" }).first().click();
  await expect(page.getByRole("heading", { name: "@tweetgen_neko" })).toBeVisible();
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  await expect(card.locator(".tweet-text")).not.toBeEmpty();
  await expect(card.locator("footer")).toContainText("@tweetgen_neko");
  await page.screenshot({ path: "screenshots/demo-user.png", fullPage: true });
});

test("share tags point at a card image of the tweet", async ({ page }) => {
  const name = await learn(page, "card_");
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  const text = (await card.locator(".tweet-text").textContent()) ?? "";
  // The permalink page is what X's crawler fetches when the link is posted.
  await card.locator("footer a").first().click();
  await expect(page).toHaveURL(/\?tweet=\d+$/);
  await page.reload();
  const meta = (key: string) => page.locator(`meta[property="${key}"], meta[name="${key}"]`);
  await expect(meta("og:description")).toHaveAttribute("content", text);
  await expect(meta("twitter:card")).toHaveAttribute("content", "summary_large_image");
  const image = (await meta("og:image").getAttribute("content")) ?? "";
  expect(image).toMatch(new RegExp(`/card/${name}/\\d+\\.png$`));
  const response = await page.request.get(image);
  expect(response.status()).toBe(200);
  expect(response.headers()["content-type"]).toBe("image/png");
  require("fs").writeFileSync("screenshots/card-tweet.png", await response.body());
  // How it looks: the image, opened in the browser.
  await page.goto(image);
  const size = await page.evaluate(() => {
    const img = document.querySelector("img") as HTMLImageElement;
    return [img.naturalWidth, img.naturalHeight];
  });
  expect(size).toEqual([1200, 630]);
});

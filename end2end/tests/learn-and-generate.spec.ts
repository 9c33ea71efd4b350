import { test, expect } from "@playwright/test";
import { hydrated, learn, paste, signIn, uniqueName, watchForErrors, TWEETS } from "./helpers";

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
  expect(intent.origin + intent.pathname).toBe("https://x.com/intent/post");
  expect(intent.searchParams.get("text")).toBe(text);
  expect(intent.searchParams.get("hashtags")).toBe("tweetgen");
  expect(intent.searchParams.get("url")).toBe(new URL(permalink ?? "", page.url()).href);
  expect(permalink).toContain(`/@${name}?tweet=`);
  await card.screenshot({ path: "screenshots/tweet-card.png" });
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

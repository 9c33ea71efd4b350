import { test, expect } from "@playwright/test";
import { hydrated, learn, watchForErrors } from "./helpers";

test("a protected account generates only for its owner", async ({ page, browser }) => {
  const name = await learn(page, "prot_", { protected: true });
  await expect(page.getByText("Protected", { exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).not.toBeEmpty();

  // Someone else (a fresh browser, not signed in) sees why there is no button.
  const stranger = await browser.newPage();
  await stranger.goto(`/@${name}`);
  await expect(stranger.getByText("This account is protected: only its owner can generate.")).toBeVisible();
  await expect(stranger.getByRole("button", { name: "Generate" })).toHaveCount(0);
  await stranger.screenshot({ path: "screenshots/protected-stranger.png", fullPage: true });
  await stranger.goto("/");
  await expect(stranger.getByRole("link", { name: `@${name}` })).toHaveCount(0);
  await stranger.close();
});

for (const javaScriptEnabled of [true, false]) {
  test.describe(javaScriptEnabled ? "hydrated" : "without JavaScript", () => {
    test.use({ javaScriptEnabled });

    test("delete my data removes the model and signs out", async ({ page }) => {
      const errors = watchForErrors(page);
      const name = await learn(page, javaScriptEnabled ? "deljs_" : "delnojs_");
      await page.goto("/");
      if (javaScriptEnabled) await hydrated(page);
      // Not confirmed: explained, nothing deleted.
      await page.getByRole("checkbox", { name: /delete everything/ }).evaluate((box: HTMLInputElement) => (box.required = false));
      await page.getByRole("button", { name: "Delete everything" }).click();
      await expect(page.getByRole("alert")).toContainText("Tick the box to confirm");

      await page.getByRole("checkbox", { name: /delete everything/ }).check();
      await page.getByRole("button", { name: "Delete everything" }).click();
      await expect(page.getByRole("status")).toHaveText("Your data has been deleted.");
      await expect(page.getByRole("link", { name: "Sign in with X" }).first()).toBeVisible();
      await page.screenshot({ path: `screenshots/deleted-${javaScriptEnabled ? "js" : "nojs"}.png`, fullPage: true });
      const gone = await page.goto(`/@${name}`);
      expect(gone?.status()).toBe(404);
      await expect(page.getByRole("heading", { name: "Unknown user" })).toBeVisible();
      expect(errors.filter((e) => !e.includes("status of 422") && !e.includes("status of 404"))).toEqual([]);
    });
  });
}

test("the ranking shows users others generate from", async ({ page, browser }) => {
  const name = await learn(page, "rank_");
  // The owner's own generations do not count...
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("generated-tweet")).toBeVisible();
  // ...visitors' do, once per person (told apart by address) and day.
  for (const address of ["198.51.100.7", "198.51.100.8"]) {
    const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": address } });
    const visitor = await context.newPage();
    for (let i = 1; i <= 2; i++) {
      await visitor.goto(`/@${name}`);
      await hydrated(visitor);
      await visitor.getByRole("button", { name: "Generate" }).click();
      await expect(visitor.getByTestId("generated-tweet")).toBeVisible();
    }
    await context.close();
  }
  const visitor = await browser.newPage();
  await visitor.goto("/");
  const entry = visitor.getByTestId("ranking").getByRole("listitem").filter({ hasText: `@${name}` });
  await expect(entry).toContainText("2 people");
  await visitor.getByTestId("ranking").screenshot({ path: "screenshots/ranking.png" });
  await visitor.close();
});

test.describe("Japanese browser", () => {
  test.use({ locale: "ja-JP" });

  test("the UI follows Accept-Language and the switch", async ({ page }) => {
    const errors = watchForErrors(page);
    await page.goto("/");
    await expect(page.locator("html")).toHaveAttribute("lang", "ja");
    await expect(page.getByRole("link", { name: "Xでログイン" }).first()).toBeVisible();
    await hydrated(page);
    await page.screenshot({ path: "screenshots/home-ja.png", fullPage: true });

    await page.getByRole("link", { name: "English" }).click();
    await expect(page.locator("html")).toHaveAttribute("lang", "en");
    await expect(page.getByRole("link", { name: "Sign in with X" }).first()).toBeVisible();
    await page.goto("/@tweetgen_neko");
    await expect(page.getByRole("button", { name: "Generate" })).toBeVisible();
    await page.getByRole("link", { name: "日本語" }).click();
    await expect(page).toHaveURL(/\/@tweetgen_neko$/);
    await expect(page.getByRole("button", { name: "生成する" })).toBeVisible();
    await hydrated(page);
    await page.getByRole("button", { name: "生成する" }).click();
    await expect(page.getByTestId("generated-tweet").getByRole("link", { name: "Xにポスト" })).toBeVisible();
    await page.screenshot({ path: "screenshots/user-page-ja.png", fullPage: true });
    expect(errors).toEqual([]);
  });

  test.describe("without JavaScript", () => {
    test.use({ javaScriptEnabled: false });

    test("the switch works as plain links", async ({ page }) => {
      await page.goto("/@tweetgen_en");
      await expect(page.getByRole("button", { name: "生成する" })).toBeVisible();
      await page.getByRole("link", { name: "English" }).click();
      await expect(page).toHaveURL(/\/@tweetgen_en$/);
      await expect(page.getByRole("button", { name: "Generate" })).toBeVisible();
    });
  });
});

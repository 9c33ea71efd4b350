import { test, expect, Page } from "@playwright/test";
import { hydrated, learn, watchForErrors } from "./helpers";

/** A public demo user the server seeds. */
const DEMO = "tweetgen_neko";

/** The mix of the learned user and the demo voice (weight 2), as its one address spells it. */
function mixOf(name: string): { spec: string; label: string } {
  // Canonical order: lower-case screen names, ascending ("mix…" and "nojsmix…" come before "tweetgen…").
  return { spec: `${name},${DEMO}:2`, label: `@${name} + @${DEMO} ×2` };
}

/** From the learned user's page: types the mix into the mix box, in another order, and mixes. */
async function mixWithDemo(page: Page, name: string): Promise<void> {
  const box = page.getByRole("textbox", { name: "Mix voices" });
  await expect(box).toHaveValue(`${name}, `);
  await box.fill(`@${DEMO}:2, ${name.toUpperCase()}`);
  await page.getByRole("button", { name: "Mix", exact: true }).click();
  const { spec, label } = mixOf(name);
  await expect(page).toHaveURL(new RegExp(`/mix/${spec}$`));
  await expect(page.getByRole("heading", { name: label })).toBeVisible();
  const members = page.getByTestId("mix-members");
  await expect(members.getByRole("link", { name: `@${name}` })).toHaveAttribute("href", `/@${name}`);
  await expect(members.getByRole("link", { name: `@${DEMO}` })).toBeVisible();
  await expect(members).toContainText("×2");
}

/** Generates from the mix on its page; returns the tweet's permalink. */
async function generateFromMix(page: Page, name: string): Promise<string> {
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.getByTestId("generated-tweet");
  await expect(card.locator(".tweet-text")).not.toBeEmpty();
  const { spec, label } = mixOf(name);
  const permalink = card.locator("footer a").first();
  await expect(permalink).toContainText(label);
  const href = (await permalink.getAttribute("href")) ?? "";
  expect(href).toMatch(new RegExp(`^/mix/${spec}\\?tweet=\\d+$`));
  return href;
}

test("hydrated: mix a voice with another, generate, and share the mix's permalink", async ({ page, browser }) => {
  const errors = watchForErrors(page);
  const name = await learn(page, "mix_");
  await hydrated(page);
  // A reload would wipe this marker: the mix page comes without one.
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await mixWithDemo(page, name);
  const permalink = await generateFromMix(page, name);
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  const text = (await page.getByTestId("generated-tweet").locator(".tweet-text").textContent()) ?? "";
  await page.screenshot({ path: "screenshots/mix-page.png", fullPage: true });

  // Anyone with the link sees that tweet, its share tags and its card image.
  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(permalink);
  await expect(visitor.getByTestId("generated-tweet").locator(".tweet-text")).toHaveText(text);
  const image = await visitor.locator('meta[property="og:image"]').getAttribute("content");
  expect(image).toMatch(new RegExp(`/mix-card/${mixOf(name).spec}/\\d+\\.png$`));
  const card = await visitor.request.get(image ?? "");
  expect([card.status(), card.headers()["content-type"]]).toEqual([200, "image/png"]);
  require("fs").writeFileSync("screenshots/card-mix.png", await card.body());
  expect(errors).toEqual([]);
});

test("a protected voice joins only the mix its owner makes", async ({ page, browser }) => {
  const name = await learn(page, "mixp_", { protected: true });
  await hydrated(page);
  await mixWithDemo(page, name);
  await generateFromMix(page, name);

  const stranger = await (await browser.newContext()).newPage();
  const response = await stranger.goto(`/mix/${mixOf(name).spec}`);
  expect(response?.status()).toBe(403);
  await expect(stranger.getByRole("alert")).toHaveText(`@${name} is a protected account: only its owner can generate.`);
  await expect(stranger.getByRole("button", { name: "Generate" })).toHaveCount(0);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("mix, generate and see the permalink", async ({ page }) => {
    const name = await learn(page, "nojsmix_");
    await mixWithDemo(page, name);
    await generateFromMix(page, name);
    await expect(page).toHaveURL(new RegExp(`/mix/${mixOf(name).spec}\\?tweet=\\d+$`));
  });

  test("a bad mix is explained beside the mix box", async ({ page }) => {
    const response = await page.goto("/mix?voices=tweetgen_neko%2C+tweetgen_dev%3A0");
    expect(response?.status()).toBe(422);
    await expect(page.getByRole("alert")).toHaveText(
      "A voice's weight in a mix is a whole number from 1 to 99, as in bob:2.",
    );
    await expect(page.getByRole("textbox", { name: "Mix voices" })).toHaveValue("tweetgen_neko, tweetgen_dev:0");
  });
});

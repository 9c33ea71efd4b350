import { expect, Page } from "@playwright/test";

export const TWEETS = [
  "今日は良い天気ですね。",
  "今日は雨が降っています。",
  "明日は良い天気になるでしょう。",
  "Rustで書くと速い。",
].join("\n");

/** Collects console errors and failed page scripts, for tests to assert none happened. */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/** A screen name no other test (or earlier run on the same database) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}${Date.now() % 1_000_000_000}`.slice(0, 15);
}

/** Waits until the page is interactive (the hydrate entry marks the body). */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

/**
 * "Sign in with X" through the stand-in for X that the server under test serves:
 * the app sends the browser to the authorization page, the person picks a name
 * and agrees, and the app signs them in and brings them back.
 */
export async function signIn(page: Page, name: string, options: { protected?: boolean } = {}): Promise<void> {
  await page.goto("/");
  await page.getByRole("link", { name: "Sign in with X" }).first().click();
  await expect(page.getByRole("heading", { name: "Sign in to X" })).toBeVisible();
  await page.getByLabel("Username").fill(name);
  if (options.protected) await page.getByLabel("Protected account").check();
  await page.getByRole("button", { name: "Authorize app" }).click();
  await expect(page.getByText(`Signed in as @${name}`)).toBeVisible();
}

/** Opens the folded paste form and fills it in. */
export async function paste(page: Page, tweets: string): Promise<void> {
  await page.getByText("Paste tweets").click();
  await page.getByLabel(/Your tweets/).fill(tweets);
}

/** Signs in under a fresh name, teaches TWEETS (or `tweets`) and lands on the user's page. */
export async function learn(
  page: Page,
  prefix: string,
  options: { protected?: boolean; tweets?: string } = {},
): Promise<string> {
  const name = uniqueName(prefix);
  await signIn(page, name, options);
  await paste(page, options.tweets ?? TWEETS);
  await page.getByRole("button", { name: "Learn", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/@${name}$`));
  await expect(page.getByRole("heading", { name: `@${name}` })).toBeVisible();
  return name;
}

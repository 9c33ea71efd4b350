import { test, expect, Page } from "@playwright/test";
import { hydrated, learn, watchForErrors } from "./helpers";

// The second instance behind the "load balancer" (end2end/two-instances.sh).
const port = Number(process.env.E2E_PORT ?? 3100);
const other = `http://127.0.0.1:${port + 1}`;

async function otherIsReady(page: Page): Promise<void> {
  await expect.poll(async () => (await page.request.get(`${other}/readyz`).catch(() => null))?.status()).toBe(200);
}

test("a session, a model and its deletion are seen by every instance", async ({ page, browser }) => {
  const errors = watchForErrors(page);
  await otherIsReady(page);
  const name = await learn(page, "inst_");

  // Signed in through the first instance, the second knows who this is.
  await page.goto(`${other}/`);
  await expect(page.getByText(`Signed in as @${name}`)).toBeVisible();

  // A visitor generates through the second instance, which now caches the model.
  const visitor = await browser.newPage();
  await visitor.goto(`${other}/@${name}`);
  await hydrated(visitor);
  await visitor.getByRole("button", { name: "Generate" }).click();
  await expect(visitor.getByTestId("generated-tweet").locator(".tweet-text")).not.toBeEmpty();
  await visitor.screenshot({ path: "screenshots/second-instance.png", fullPage: true });

  // Deleted through the first instance...
  await page.goto("/");
  await page.getByRole("checkbox", { name: /delete everything/ }).check();
  await page.getByRole("button", { name: "Delete everything" }).click();
  await expect(page.getByRole("status")).toHaveText("Your data has been deleted.");

  // ...the second instance serves nothing of it, although the model is still in its memory.
  await visitor.getByRole("button", { name: "Generate" }).click();
  await expect(visitor.getByRole("alert")).toHaveText(`@${name} has not taught tweetgen anything yet.`);
  const gone = await visitor.goto(`${other}/@${name}`);
  expect(gone?.status()).toBe(404);
  expect((await visitor.request.get(`${other}/card/${name}.png`)).status()).toBe(404);
  // And the session ended everywhere.
  await page.goto(`${other}/`);
  await expect(page.getByRole("link", { name: "Sign in with X" }).first()).toBeVisible();
  await visitor.close();
  expect(errors).toEqual([]);
});

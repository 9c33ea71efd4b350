import { test, expect } from "@playwright/test";
import { hydrated, watchForErrors } from "./helpers";

test("hydrated under the page's Content-Security-Policy, with nothing refused", async ({ page }) => {
  const errors = watchForErrors(page);
  const violations: string[] = [];
  await page.exposeFunction("reportViolation", (what: string) => violations.push(what));
  await page.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (event) =>
      (window as any).reportViolation(`${event.violatedDirective} ${event.blockedURI}`),
    ),
  );
  const response = await page.goto("/@tweetgen_en");
  const policy = response?.headers()["content-security-policy"] ?? "";
  expect(policy).toContain("'nonce-");
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toContain("unsafe-inline");
  await hydrated(page);
  // A server function call from the WebAssembly app (connect-src 'self').
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("generated-tweet").locator(".tweet-text")).not.toBeEmpty();
  expect(violations).toEqual([]);
  expect(errors).toEqual([]);
});

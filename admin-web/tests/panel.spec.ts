// The admin panel driven as the shop's owner would, in Debian's chromium,
// against a running stack; a screenshot of each page goes to screenshots/.
import { type Page, expect, test } from "@playwright/test";

import { SessionEndedError, type ShopClient, createShopClient } from "../../clients/typescript/src";
import { customerLogin, latestCode, stack } from "../../clients/typescript/test/stack";

const SCREENSHOTS = "screenshots";
const shot = (page: Page, name: string) => page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });

test.describe.configure({ mode: "serial" });

/**
 * Whether the app's session is refused: its token is answered `401`, or,
 * when the client refreshed first, the refresh told it the session ended.
 */
async function refused(app: ShopClient): Promise<boolean> {
  try {
    return (await app.commerce.GET("/api/v1/cart")).response.status === 401;
  } catch (error) {
    return error instanceof SessionEndedError;
  }
}

let page: Page;
const violations: string[] = [];
const slug = `playwright-lamp-${Date.now()}`;
let productId = 0;
let skuId = 0;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  // A script or style the Content-Security-Policy refused would show here.
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused to/.test(message.text())) {
      violations.push(message.text());
    }
  });
  page.on("pageerror", (error) => violations.push(error.message));
});

test.afterAll(() => {
  expect(violations, "no policy violations or uncaught errors in the page").toEqual([]);
});

test("the panel is served with its security headers and logs in", async () => {
  const response = await page.goto("/admin/");
  const headers = response!.headers();
  expect(headers["content-security-policy"]).toContain("script-src 'self'");
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["x-frame-options"]).toBe("DENY");
  await expect(page.getByRole("heading", { name: "Shop admin" })).toBeVisible();
  await shot(page, "login");

  await page.getByLabel("Email").fill(stack.adminEmail);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toContainText("invalid_credentials");

  await page.getByLabel("Password").fill(stack.adminPassword);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("heading", { name: "Products" })).toBeVisible();
  await shot(page, "products");
});

test("a product is created with a SKU and two market prices, field errors shown by their fields", async () => {
  await page.getByRole("link", { name: "New product" }).click();
  await page.getByLabel("Slug", { exact: true }).fill("Not A Slug");
  await page.getByLabel("Name", { exact: true }).fill("Reading lamp");
  await page.getByRole("button", { name: "Create product" }).click();
  // The API's 422 names each field; the panel puts each message by its field.
  const slugField = page.locator("div.field", { has: page.getByLabel("Slug", { exact: true }) });
  await expect(slugField.locator(".field-error")).toContainText("lower-case letters");
  const codeField = page.locator("div.field", { has: page.getByLabel("Code", { exact: true }) });
  await expect(codeField.locator(".field-error")).toBeVisible();
  await shot(page, "product-new-errors");

  await page.getByLabel("Slug", { exact: true }).fill(slug);
  await page.getByLabel("Description").fill("A warm light for long evenings.");
  await page.getByLabel("Code", { exact: true }).fill(`${slug}-brass`);
  await page.getByLabel("Attributes (name=value, ...)").fill("finish=brass, bulb=E27");
  await page.getByLabel("Stock", { exact: true }).fill("5");
  await page.getByLabel(/Price in United States/).fill("49.99");
  await page.getByLabel(/Price in .*EUR/).fill("45.50");
  await page.getByRole("button", { name: "Create product" }).click();

  await expect(page.getByRole("heading", { name: "Reading lamp" })).toBeVisible();
  productId = Number(page.url().split("/").pop());
  const row = page.getByRole("row", { name: `SKU ${slug}-brass` });
  await expect(row).toContainText("finish=brass");
  await expect(row).toContainText("bulb=E27");
  await expect(row.getByLabel(`stock of ${slug}-brass`)).toHaveValue("5");
  await expect(row).toContainText("$49.99");
  await expect(row).toContainText("€45.50");
  await shot(page, "product");

  // A second SKU, added to the product.
  const addSku = page.getByRole("form", { name: "add a SKU" });
  await addSku.getByLabel("Code", { exact: true }).fill(`${slug}-black`);
  await addSku.getByLabel("Attributes (name=value, ...)").fill("finish=black");
  await addSku.getByLabel("Stock", { exact: true }).fill("3");
  await addSku.getByLabel(/Price in United States/).fill("39.99");
  await addSku.getByRole("button", { name: "Add SKU" }).click();
  await expect(page.getByRole("row", { name: `SKU ${slug}-black` })).toContainText("$39.99");
  await expect(addSku.getByLabel("Code", { exact: true })).toHaveValue("");

  // Edited: a new name, saved.
  await page.getByLabel("Name", { exact: true }).fill("Brass reading lamp");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toHaveText("Saved.");
});

test("the new product is in the public catalog at each market's price", async () => {
  for (const [market, amount, currency] of [
    ["us", 4999, "USD"],
    ["eu", 4550, "EUR"],
  ] as const) {
    const response = await fetch(`${stack.baseUrl}/api/v1/products/${productId}`, { headers: { "x-market": market } });
    expect(response.status).toBe(200);
    const product = (await response.json()) as { name: string; skus: { id: number; price: { amount_minor: number; currency: string } }[] };
    expect(product.name).toBe("Brass reading lamp");
    expect(product.skus[0]!.price).toEqual({ amount_minor: amount, currency });
    skuId = product.skus[0]!.id;
  }
  const inIndia = await fetch(`${stack.baseUrl}/api/v1/products/${productId}`, { headers: { "x-market": "in" } });
  expect(inIndia.status).toBe(404);
});

test("an order is taken from pending to delivered, and a move made stale elsewhere is a clear 409", async () => {
  const customer = createShopClient({ baseUrl: stack.baseUrl, market: "us" });
  await customerLogin(customer);
  const address = { name: "Ada Buyer", line1: "1 Main St", city: "Springfield", postal_code: "62701", country: "US" };
  await customer.commerce.POST("/api/v1/cart/items", { body: { sku_id: skuId, quantity: 2 } });
  const order = await customer.checkout({ shipping_address: address, note: "Ring twice" });
  await customer.commerce.POST("/api/v1/cart/items", { body: { sku_id: skuId, quantity: 1 } });
  const second = await customer.checkout();

  await page.getByRole("link", { name: "Orders" }).click();
  await page.getByLabel("status").selectOption("pending");
  await page.getByRole("link", { name: order.order_number }).click();
  await expect(page.getByRole("heading", { name: `Order ${order.order_number}` })).toBeVisible();
  await expect(page.getByText("Ada Buyer")).toBeVisible();
  await expect(page.getByText("Ring twice")).toBeVisible();
  // Only the legal moves are offered.
  await expect(page.getByRole("button", { name: /^Mark / })).toHaveText(["Mark confirmed", "Mark cancelled"]);
  await shot(page, "order");
  for (const status of ["confirmed", "processing", "shipped", "delivered"]) {
    await page.getByRole("button", { name: `Mark ${status}` }).click();
    await expect(page.locator("p .status")).toHaveText(status);
  }
  await expect(page.getByText("No further moves.")).toBeVisible();
  await expect(page.locator(".history li")).toHaveCount(5);

  // The second order, open in the panel, is cancelled by its customer.
  await page.goto(`/admin/orders/${second.id}`);
  await expect(page.getByRole("button", { name: "Mark confirmed" })).toBeVisible();
  const cancelled = await customer.commerce.POST("/api/v1/orders/{id}/cancel", { params: { path: { id: second.id } } });
  expect(cancelled.response.status).toBe(200);
  await page.getByRole("button", { name: "Mark confirmed" }).click();
  await expect(page.getByRole("alert")).toContainText("invalid_transition");
  await expect(page.locator("p .status")).toHaveText("cancelled");

  await page.getByRole("link", { name: "Orders" }).click();
  await page.getByLabel("status").selectOption("delivered");
  await expect(page.getByRole("link", { name: order.order_number })).toBeVisible();
  await shot(page, "orders");
});

test("a customer's session is ended, then the customer deactivated: their tokens are refused", async () => {
  const phoneApp = createShopClient({ baseUrl: stack.baseUrl, market: "us" });
  const phone = await customerLogin(phoneApp);
  const tablet = createShopClient({ baseUrl: stack.baseUrl, market: "us" });
  await tablet.sendCode(phone);
  await tablet.verifyCode(phone, await latestCode(phone), "tablet");

  await page.getByRole("link", { name: "Customers" }).click();
  await page.getByLabel("find customers").fill(phone);
  await page.getByRole("button", { name: "Find" }).click();
  await expect(page.getByRole("cell", { name: phone })).toBeVisible();
  await shot(page, "customers");
  await page.getByRole("row", { name: phone }).getByRole("link").click();
  await expect(page.getByLabel("account status")).toHaveText("active");
  await expect(page.getByRole("button", { name: "End session" })).toHaveCount(2);
  await shot(page, "customer");

  await page.getByRole("row", { name: /tablet/ }).getByRole("button", { name: "End session" }).click();
  await expect(page.getByRole("button", { name: "End session" })).toHaveCount(1);
  expect(await refused(tablet)).toBe(true);
  expect((await phoneApp.auth.GET("/api/v1/auth/me")).response.status).toBe(200);

  await page.getByRole("button", { name: "Deactivate" }).click();
  await expect(page.getByLabel("account status")).toHaveText("deactivated");
  await expect(page.getByText("No live sessions.")).toBeVisible();
  expect(await refused(phoneApp)).toBe(true);
});

test("the session outlives its access token, and logging out ends it", async () => {
  const tokensBefore = await page.evaluate(() => localStorage.getItem("shop.admin.tokens"));
  if (stack.accessTtlSeconds !== null && stack.accessTtlSeconds <= 30) {
    await page.waitForTimeout((stack.accessTtlSeconds + 1) * 1000);
  }
  await page.getByRole("link", { name: "Products" }).click();
  await page.getByLabel("search products").fill(slug);
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByRole("link", { name: "Brass reading lamp" })).toBeVisible();
  if (stack.accessTtlSeconds !== null && stack.accessTtlSeconds <= 30) {
    // The client refreshed on its own: new tokens, same session.
    const tokensAfter = await page.evaluate(() => localStorage.getItem("shop.admin.tokens"));
    expect(tokensAfter).not.toBe(tokensBefore);
    expect(JSON.parse(tokensAfter!).sessionId).toBe(JSON.parse(tokensBefore!).sessionId);
  }

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("shop.admin.tokens"))).toBeNull();
  const stale = JSON.parse(tokensBefore!) as { refreshToken: string };
  const refresh = await fetch(`${stack.baseUrl}/api/v1/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: stale.refreshToken }),
  });
  expect(refresh.status).toBe(401);
  await page.goto("/admin/products");
  await expect(page.getByRole("button", { name: "Log in" })).toBeVisible();
});

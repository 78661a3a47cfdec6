import { describe, expect, it } from "vitest";

import { client, customerLogin, flakyNetwork } from "./stack";

/** A SKU on sale in the US market, from the public catalog. */
async function someSku(shop: ReturnType<typeof client>): Promise<number> {
  const { data } = await shop.commerce.GET("/api/v1/products", { params: { query: { per_page: "50" } } });
  for (const summary of data?.items ?? []) {
    const { data: product } = await shop.commerce.GET("/api/v1/products/{id}", {
      params: { path: { id: summary.id } },
    });
    const sku = product?.skus.find((candidate) => candidate.in_stock);
    if (sku) return sku.id;
  }
  throw new Error("no SKU in stock in the catalog");
}

describe("checkout", () => {
  it("a checkout whose answer is lost is retried with the same key and makes one order", async () => {
    const network = flakyNetwork();
    const shop = client({ fetch: network.fetch });
    await customerLogin(shop);
    const sku = await someSku(shop);
    const added = await shop.commerce.POST("/api/v1/cart/items", { body: { sku_id: sku, quantity: 1 } });
    expect(added.response.status).toBe(200);
    const keys: string[] = [];
    network.dropAnswer((request) => {
      const isCheckout = request.method === "POST" && new URL(request.url).pathname === "/api/v1/orders";
      if (isCheckout) keys.push(request.headers.get("idempotency-key") ?? "");
      return isCheckout;
    });

    const order = await shop.checkout(
      { shipping_address: null, note: "left at the door" },
      { ifMatch: added.data!.version },
    );

    expect(network.count("/api/v1/orders")).toBe(2);
    expect(keys).toHaveLength(1);
    const { data: orders } = await shop.commerce.GET("/api/v1/orders");
    expect(orders?.items.map((listed) => listed.id)).toEqual([order.id]);
    expect(order.status).toBe("pending");
    const { data: cart } = await shop.commerce.GET("/api/v1/cart");
    expect(cart?.items).toEqual([]);
  });

  it("two checkouts are two orders: each call has a key of its own", async () => {
    const shop = client();
    await customerLogin(shop);
    const sku = await someSku(shop);
    await shop.commerce.POST("/api/v1/cart/items", { body: { sku_id: sku, quantity: 1 } });
    const first = await shop.checkout();
    await shop.commerce.POST("/api/v1/cart/items", { body: { sku_id: sku, quantity: 1 } });
    const second = await shop.checkout();
    expect(second.id).not.toBe(first.id);
  });
});

describe("waiting when asked", () => {
  it("a 429 with Retry-After is waited out and sent again", async () => {
    const network = flakyNetwork();
    const shop = client({ fetch: network.fetch });
    const phone = await customerLogin(shop);
    // A second code for the number within the resend pause is refused
    // with `Retry-After`: the client waits and sends again.
    await shop.sendCode(phone);
    expect(network.count("/api/v1/auth/send-code")).toBe(3);
  });

  it("X-Market is sent on every request", async () => {
    const seen: (string | null)[] = [];
    const shop = client({
      market: "eu",
      fetch: (request) => {
        seen.push(request.headers.get("x-market"));
        return fetch(request);
      },
    });
    const { data } = await shop.commerce.GET("/api/v1/products");
    shop.setMarket("in");
    await shop.commerce.GET("/api/v1/products");
    expect(seen).toEqual(["eu", "in"]);
    expect(data?.items.length).toBeGreaterThan(0);
  });
});

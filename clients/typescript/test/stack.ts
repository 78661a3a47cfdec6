// What the suites know of the stack they run against, from the environment
// the harness sets (e2e/tests/clients.rs), and the few things a test needs
// that the app would not do: read an SMS code from the development outbox,
// read auth-service's counters.
import { randomInt } from "node:crypto";

import { type ShopClient, type ShopClientOptions, createShopClient } from "../src";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with \`cargo test -p e2e --test clients\``);
  return value;
}

export const stack = {
  baseUrl: required("SHOP_BASE_URL"),
  /** Each auth-service replica's own address (outbox, metrics). */
  authReplicas: required("SHOP_AUTH_REPLICAS").split(",").filter(Boolean),
  internalToken: process.env.INTERNAL_API_TOKEN ?? "dev-internal-token",
  adminEmail: process.env.ADMIN_EMAIL ?? "admin@example.com",
  adminPassword: process.env.ADMIN_PASSWORD ?? "admin-dev-password",
  /** The stack's access-token lifetime, when it is short enough to wait out. */
  accessTtlSeconds: process.env.SHOP_ACCESS_TTL_SECONDS ? Number(process.env.SHOP_ACCESS_TTL_SECONDS) : null,
  /** How long a rotated-away refresh token is still answered with its successor. */
  refreshGraceSeconds: Number(process.env.SHOP_REFRESH_GRACE_SECONDS ?? 10),
};

export function client(options: Partial<ShopClientOptions> = {}): ShopClient {
  return createShopClient({ baseUrl: stack.baseUrl, market: "us", ...options });
}

/** A fresh US number in a range of its own (the SMS firewall limits each range). */
export function nextPhone(): string {
  const areas = [212, 312, 415, 617, 202, 305, 404, 503, 206, 713];
  let exchange = randomInt(200, 1000);
  if (exchange % 100 === 11) exchange += 1;
  return `+1${areas[randomInt(areas.length)]}${exchange}${randomInt(1000, 10000)}`;
}

/** The latest code sent to `phone`, from the first replica that holds it. */
export async function latestCode(phone: string): Promise<string> {
  for (const replica of stack.authReplicas) {
    const response = await fetch(`${replica}/internal/v1/dev/sms-outbox?phone=${encodeURIComponent(phone)}`, {
      headers: { authorization: `Bearer ${stack.internalToken}` },
    });
    if (!response.ok) throw new Error(`sms-outbox answered ${response.status}`);
    const body = (await response.json()) as { items: { code: string }[] };
    if (body.items[0]) return body.items[0].code;
  }
  throw new Error(`no code was sent to ${phone}`);
}

/** A customer logged in by SMS code through `shop`. */
export async function customerLogin(shop: ShopClient): Promise<string> {
  const phone = nextPhone();
  await shop.sendCode(phone);
  await shop.verifyCode(phone, await latestCode(phone), "vitest");
  return phone;
}

/** One counter summed over every auth-service replica's `/metrics`. */
export async function authCounter(series: string): Promise<number> {
  let total = 0;
  for (const replica of stack.authReplicas) {
    const text = await (await fetch(`${replica}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith(`${series} `)) total += Number(line.slice(series.length + 1));
    }
  }
  return total;
}

/**
 * A network that can lose answers: `dropAnswer(match)` lets the next
 * matching request reach the server, then throws as a cut connection
 * would, so the client never sees what the server did. It also counts the
 * requests to each path.
 */
export function flakyNetwork() {
  const counts = new Map<string, number>();
  const drops: ((request: Request) => boolean)[] = [];
  const fetchThrough = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const drop = drops.findIndex((match) => match(request));
    const response = await fetch(request);
    if (drop >= 0) {
      drops.splice(drop, 1);
      await response.arrayBuffer();
      throw new TypeError("fetch failed: the connection was reset (by the test)");
    }
    return response;
  };
  return {
    fetch: fetchThrough,
    count: (path: string) => counts.get(path) ?? 0,
    dropAnswer(match: (request: Request) => boolean) {
      drops.push(match);
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

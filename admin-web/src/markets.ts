import { useEffect, useState } from "react";

import type { CommerceComponents } from "@shop/client";

import { shop, unwrap } from "./api";

export type Market = CommerceComponents["schemas"]["MarketView"];

/** The shop's markets (code, currency, name), read once per page. */
export function useMarkets(): Market[] {
  const [markets, setMarkets] = useState<Market[]>([]);
  useEffect(() => {
    unwrap(shop.commerce.GET("/api/v1/markets"))
      .then((list) => setMarkets(list.items))
      .catch(() => setMarkets([]));
  }, []);
  return markets;
}

/** `size=M, colour=red` as an attributes object. */
export function parseAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const [key, ...rest] = pair.split("=");
    if (key?.trim()) attributes[key.trim()] = rest.join("=").trim();
  }
  return attributes;
}

export function formatAttributes(attributes: Record<string, unknown>): string {
  return Object.entries(attributes)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(", ");
}

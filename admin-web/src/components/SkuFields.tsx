import type { CommerceComponents } from "@shop/client";

import { type Market, parseAttributes } from "../markets";
import { Field } from "./common";

/** A SKU as typed into a form. */
export interface SkuDraft {
  code: string;
  attributes: string;
  stock: string;
  /** Major units as typed, by market code; empty means not sold there. */
  prices: Record<string, string>;
}

export const emptySku = (): SkuDraft => ({ code: "", attributes: "", stock: "0", prices: {} });

/** `12.50` as 1250 minor units; anything else is left for the API to refuse. */
export function minorUnits(text: string): number {
  const value = Number(text.replace(",", "."));
  return Number.isFinite(value) ? Math.round(value * 100) : Number.NaN;
}

/** What the API takes for a new SKU. */
export function newSku(draft: SkuDraft): CommerceComponents["schemas"]["NewSku"] {
  return {
    code: draft.code,
    attributes: parseAttributes(draft.attributes),
    stock: Number(draft.stock),
    prices: Object.fromEntries(
      Object.entries(draft.prices)
        .filter(([, amount]) => amount.trim() !== "")
        .map(([market, amount]) => [market, minorUnits(amount)]),
    ),
  };
}

/**
 * A new SKU's fields, each with the API's message for it; `prefix` is how
 * the API names this SKU's fields (`skus[0].` when creating a product).
 */
export function SkuFields({
  draft,
  onChange,
  errors,
  prefix,
  markets,
}: {
  draft: SkuDraft;
  onChange: (change: Partial<SkuDraft>) => void;
  errors: Record<string, string>;
  prefix: string;
  markets: Market[];
}) {
  return (
    <>
      <Field label="Code" error={errors[`${prefix}code`]}>
        <input value={draft.code} onChange={(e) => onChange({ code: e.target.value })} />
      </Field>
      <Field label="Attributes (name=value, ...)" error={errors[`${prefix}attributes`]}>
        <input value={draft.attributes} onChange={(e) => onChange({ attributes: e.target.value })} />
      </Field>
      <Field label="Stock" error={errors[`${prefix}stock`]}>
        <input type="number" value={draft.stock} onChange={(e) => onChange({ stock: e.target.value })} />
      </Field>
      <div className="prices">
        {markets.map((market) => (
          <Field
            key={market.code}
            label={`Price in ${market.name} (${market.currency})`}
            error={errors[`${prefix}prices.${market.code}`]}
          >
            <input
              inputMode="decimal"
              value={draft.prices[market.code] ?? ""}
              placeholder="not sold"
              onChange={(e) => onChange({ prices: { ...draft.prices, [market.code]: e.target.value } })}
            />
          </Field>
        ))}
      </div>
    </>
  );
}

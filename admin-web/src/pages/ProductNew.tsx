import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router-dom";

import { describe, fieldErrors, shop, unwrap } from "../api";
import { ErrorBanner, Field } from "../components/common";
import { parseAttributes, useMarkets } from "../markets";

interface SkuDraft {
  code: string;
  attributes: string;
  stock: string;
  /** Major units as typed, by market code; empty means not sold there. */
  prices: Record<string, string>;
}

const emptySku = (): SkuDraft => ({ code: "", attributes: "", stock: "0", prices: {} });

/** `12.50` as 1250 minor units; anything else is left for the API to refuse. */
function minorUnits(text: string): number {
  const value = Number(text.replace(",", "."));
  return Number.isFinite(value) ? Math.round(value * 100) : Number.NaN;
}

export function ProductNew() {
  const markets = useMarkets();
  const navigate = useNavigate();
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [skus, setSkus] = useState<SkuDraft[]>([emptySku()]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);

  const updateSku = (index: number, change: Partial<SkuDraft>) =>
    setSkus((all) => all.map((sku, i) => (i === index ? { ...sku, ...change } : sku)));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setErrors({});
    try {
      const product = await unwrap(
        shop.commerce.POST("/api/v1/admin/products", {
          body: {
            slug,
            name,
            description,
            skus: skus.map((sku) => ({
              code: sku.code,
              attributes: parseAttributes(sku.attributes),
              stock: Number(sku.stock),
              prices: Object.fromEntries(
                Object.entries(sku.prices)
                  .filter(([, amount]) => amount.trim() !== "")
                  .map(([market, amount]) => [market, minorUnits(amount)]),
              ),
            })),
          },
        }),
      );
      navigate(`/products/${product.id}`);
    } catch (failure) {
      setErrors(fieldErrors(failure));
      setError(describe(failure));
    }
  };

  return (
    <section>
      <h1>New product</h1>
      <ErrorBanner message={error} />
      <form onSubmit={submit} aria-label="new product" noValidate>
        <Field label="Slug" error={errors.slug}>
          <input value={slug} onChange={(e) => setSlug(e.target.value)} placeholder="blue-kettle" />
        </Field>
        <Field label="Name" error={errors.name}>
          <input value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label="Description" error={errors.description}>
          <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={3} />
        </Field>
        <h2>SKUs</h2>
        {errors.skus && <p className="field-error">{errors.skus}</p>}
        {skus.map((sku, index) => (
          <fieldset key={index} aria-label={`SKU ${index + 1}`}>
            <legend>SKU {index + 1}</legend>
            <Field label="Code" error={errors[`skus[${index}].code`]}>
              <input value={sku.code} onChange={(e) => updateSku(index, { code: e.target.value })} />
            </Field>
            <Field label="Attributes (name=value, ...)" error={errors[`skus[${index}].attributes`]}>
              <input value={sku.attributes} onChange={(e) => updateSku(index, { attributes: e.target.value })} />
            </Field>
            <Field label="Stock" error={errors[`skus[${index}].stock`]}>
              <input
                type="number"
                value={sku.stock}
                onChange={(e) => updateSku(index, { stock: e.target.value })}
              />
            </Field>
            <div className="prices">
              {markets.map((market) => (
                <Field
                  key={market.code}
                  label={`Price in ${market.name} (${market.currency})`}
                  error={errors[`skus[${index}].prices.${market.code}`]}
                >
                  <input
                    inputMode="decimal"
                    value={sku.prices[market.code] ?? ""}
                    placeholder="not sold"
                    onChange={(e) => updateSku(index, { prices: { ...sku.prices, [market.code]: e.target.value } })}
                  />
                </Field>
              ))}
            </div>
            {skus.length > 1 && (
              <button type="button" className="secondary" onClick={() => setSkus((all) => all.filter((_, i) => i !== index))}>
                Remove SKU
              </button>
            )}
          </fieldset>
        ))}
        <div className="actions">
          <button type="button" className="secondary" onClick={() => setSkus((all) => [...all, emptySku()])}>
            Add SKU
          </button>
          <button type="submit">Create product</button>
        </div>
      </form>
    </section>
  );
}

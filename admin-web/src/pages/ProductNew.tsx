import { type FormEvent, useState } from "react";
import { useNavigate } from "react-router-dom";

import { describe, fieldErrors, shop, unwrap } from "../api";
import { type SkuDraft, SkuFields, emptySku, newSku } from "../components/SkuFields";
import { ErrorBanner, Field } from "../components/common";
import { useMarkets } from "../markets";

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
            skus: skus.map(newSku),
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
            <SkuFields
              draft={sku}
              onChange={(change) => updateSku(index, change)}
              errors={errors}
              prefix={`skus[${index}].`}
              markets={markets}
            />
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

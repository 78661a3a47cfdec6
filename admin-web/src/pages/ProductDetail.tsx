import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useParams } from "react-router-dom";

import type { CommerceComponents } from "@shop/client";

import { describe, fieldErrors, money, shop, unwrap } from "../api";
import { type SkuDraft, SkuFields, emptySku, newSku } from "../components/SkuFields";
import { ErrorBanner, Field, Timestamp } from "../components/common";
import { type Market, formatAttributes, useMarkets } from "../markets";

type Product = CommerceComponents["schemas"]["AdminProductView"];
type Sku = CommerceComponents["schemas"]["AdminSkuView"];

export function ProductDetail() {
  const id = Number(useParams().id);
  const markets = useMarkets();
  const [product, setProduct] = useState<Product | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    unwrap(shop.commerce.GET("/api/v1/admin/products/{id}", { params: { path: { id } } }))
      .then(setProduct)
      .catch((failure) => setError(describe(failure)));
  }, [id]);
  useEffect(load, [load]);

  if (!product) return <ErrorBanner message={error} />;
  return (
    <section>
      <h1>{product.name}</h1>
      <p className="muted">
        {product.slug} · created <Timestamp value={product.created_at} />
      </p>
      <ErrorBanner message={error} />
      <ProductForm product={product} onSaved={setProduct} />
      <h2>SKUs</h2>
      <table>
        <thead>
          <tr>
            <th>Code</th>
            <th>Attributes</th>
            <th>Stock</th>
            <th>Held</th>
            {markets.map((market) => (
              <th key={market.code}>Price {market.code.toUpperCase()}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {product.skus.map((sku) => (
            <SkuRow key={sku.id} sku={sku} markets={markets} onSaved={load} />
          ))}
        </tbody>
      </table>
      <NewSkuForm productId={product.id} markets={markets} onAdded={setProduct} />
    </section>
  );
}

/** Another SKU for the product: its code, attributes, stock and prices. */
function NewSkuForm({
  productId,
  markets,
  onAdded,
}: {
  productId: number;
  markets: Market[];
  onAdded: (product: Product) => void;
}) {
  const [draft, setDraft] = useState<SkuDraft>(emptySku);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const add = async (event: FormEvent) => {
    event.preventDefault();
    setErrors({});
    setError(null);
    try {
      onAdded(
        await unwrap(
          shop.commerce.POST("/api/v1/admin/products/{id}/skus", {
            params: { path: { id: productId } },
            body: newSku(draft),
          }),
        ),
      );
      setDraft(emptySku());
    } catch (failure) {
      setErrors(fieldErrors(failure));
      setError(describe(failure));
    }
  };
  return (
    <form onSubmit={add} aria-label="add a SKU" noValidate>
      <h2>Add a SKU</h2>
      <ErrorBanner message={error} />
      <SkuFields
        draft={draft}
        onChange={(change) => setDraft((current) => ({ ...current, ...change }))}
        errors={errors}
        prefix=""
        markets={markets}
      />
      <div className="actions">
        <button type="submit">Add SKU</button>
      </div>
    </form>
  );
}

function ProductForm({ product, onSaved }: { product: Product; onSaved: (product: Product) => void }) {
  const [name, setName] = useState(product.name);
  const [description, setDescription] = useState(product.description);
  const [active, setActive] = useState(product.is_active);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [status, setStatus] = useState<string | null>(null);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setErrors({});
    setStatus(null);
    try {
      const saved = await unwrap(
        shop.commerce.PATCH("/api/v1/admin/products/{id}", {
          params: { path: { id: product.id } },
          body: { name, description, is_active: active },
        }),
      );
      onSaved(saved);
      setStatus("Saved.");
    } catch (failure) {
      setErrors(fieldErrors(failure));
      setStatus(describe(failure));
    }
  };
  return (
    <form onSubmit={save} aria-label="edit product" noValidate>
      <Field label="Name" error={errors.name}>
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </Field>
      <Field label="Description" error={errors.description}>
        <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={3} />
      </Field>
      <label className="checkbox">
        <input type="checkbox" checked={active} onChange={(e) => setActive(e.target.checked)} /> Sold in the shop
      </label>
      <div className="actions">
        <button type="submit">Save</button>
        {status && <span role="status">{status}</span>}
      </div>
    </form>
  );
}

function SkuRow({ sku, markets, onSaved }: { sku: Sku; markets: Market[]; onSaved: () => void }) {
  const [stock, setStock] = useState(String(sku.stock));
  const [prices, setPrices] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.entries(sku.prices).map(([market, minor]) => [market, (minor / 100).toFixed(2)])),
  );
  const [error, setError] = useState<string | null>(null);
  const run = async (action: Promise<unknown>) => {
    setError(null);
    try {
      await action;
      onSaved();
    } catch (failure) {
      setError(describe(failure));
    }
  };
  const saveStock = () =>
    run(unwrap(shop.commerce.PUT("/api/v1/admin/skus/{id}/stock", { params: { path: { id: sku.id } }, body: { stock: Number(stock) } })));
  const savePrice = (market: string) =>
    run(
      unwrap(
        shop.commerce.PUT("/api/v1/admin/skus/{id}/prices/{market}", {
          params: { path: { id: sku.id, market } },
          body: { amount_minor: Math.round(Number(prices[market] ?? "") * 100) },
        }),
      ),
    );
  return (
    <tr aria-label={`SKU ${sku.code}`}>
      <td>{sku.code}</td>
      <td>{formatAttributes(sku.attributes)}</td>
      <td>
        <input className="narrow" aria-label={`stock of ${sku.code}`} value={stock} onChange={(e) => setStock(e.target.value)} />
        <button type="button" onClick={saveStock}>
          Set
        </button>
      </td>
      <td>{sku.held}</td>
      {markets.map((market) => (
        <td key={market.code}>
          <input
            className="narrow"
            aria-label={`price of ${sku.code} in ${market.code}`}
            value={prices[market.code] ?? ""}
            placeholder="not sold"
            onChange={(e) => setPrices({ ...prices, [market.code]: e.target.value })}
          />
          <button type="button" onClick={() => savePrice(market.code)}>
            Set
          </button>
          {sku.prices[market.code] !== undefined && (
            <span className="muted"> {money(sku.prices[market.code]!, market.currency)}</span>
          )}
        </td>
      ))}
      {error && (
        <td className="field-error" role="alert">
          {error}
        </td>
      )}
    </tr>
  );
}

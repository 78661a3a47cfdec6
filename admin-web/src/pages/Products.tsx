import { type FormEvent, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import type { CommerceComponents } from "@shop/client";

import { describe, shop, unwrap } from "../api";
import { ErrorBanner, Pager } from "../components/common";

type Page = CommerceComponents["schemas"]["Paginated_AdminProductSummary"];
const PER_PAGE = 20;

export function Products() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const page = Number(params.get("page") ?? "1");
  const [search, setSearch] = useState(q);
  const [list, setList] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setError(null);
    unwrap(
      shop.commerce.GET("/api/v1/admin/products", {
        params: { query: { q: q || null, page: String(page), per_page: String(PER_PAGE) } },
      }),
    )
      .then(setList)
      .catch((failure) => setError(describe(failure)));
  }, [q, page]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(search ? { q: search } : {});
  };
  return (
    <section>
      <div className="heading">
        <h1>Products</h1>
        <Link className="button" to="/products/new">
          New product
        </Link>
      </div>
      <form className="toolbar" onSubmit={submit} role="search">
        <input
          type="search"
          placeholder="Name or slug"
          aria-label="search products"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <button type="submit">Search</button>
      </form>
      <ErrorBanner message={error} />
      {list && (
        <>
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Slug</th>
                <th>SKUs</th>
                <th>Stock</th>
                <th>Sold</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((product) => (
                <tr key={product.id}>
                  <td>
                    <Link to={`/products/${product.id}`}>{product.name}</Link>
                  </td>
                  <td>{product.slug}</td>
                  <td>{product.sku_count}</td>
                  <td>{product.stock}</td>
                  <td>{product.is_active ? "yes" : "hidden"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            page={list.page}
            perPage={list.per_page}
            total={list.total}
            onPage={(next) => setParams({ ...(q ? { q } : {}), page: String(next) })}
          />
        </>
      )}
    </section>
  );
}

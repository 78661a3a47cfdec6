import { type FormEvent, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { shop, unwrap } from "../api";
import { ErrorBanner, PagedTable } from "../components/common";
import { useLoaded } from "../loaded";

const PER_PAGE = 20;

export function Products() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const page = Number(params.get("page") ?? "1");
  const [search, setSearch] = useState(q);
  const [list, error] = useLoaded(
    () =>
      unwrap(
        shop.commerce.GET("/api/v1/admin/products", {
          params: { query: { q: q || null, page: String(page), per_page: String(PER_PAGE) } },
        }),
      ),
    [q, page],
  );

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
      <PagedTable
        list={list}
        headings={["Name", "Slug", "SKUs", "Stock", "Sold"]}
        row={(product) => (
          <tr key={product.id}>
            <td>
              <Link to={`/products/${product.id}`}>{product.name}</Link>
            </td>
            <td>{product.slug}</td>
            <td>{product.sku_count}</td>
            <td>{product.stock}</td>
            <td>{product.is_active ? "yes" : "hidden"}</td>
          </tr>
        )}
        onPage={(next) => setParams({ ...(q ? { q } : {}), page: String(next) })}
      />
    </section>
  );
}

import { Link, useSearchParams } from "react-router-dom";

import { money, shop, unwrap } from "../api";
import { ErrorBanner, PagedTable, Timestamp } from "../components/common";
import { useLoaded } from "../loaded";
export const STATUSES = ["pending", "confirmed", "processing", "shipped", "delivered", "cancelled"] as const;

export function Orders() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const page = Number(params.get("page") ?? "1");
  const [list, error] = useLoaded(
    () =>
      unwrap(
        shop.commerce.GET("/api/v1/admin/orders", {
          params: { query: { status: status || null, page: String(page), per_page: "20" } },
        }),
      ),
    [status, page],
  );

  return (
    <section>
      <h1>Orders</h1>
      <div className="toolbar">
        <label>
          Status{" "}
          <select
            aria-label="status"
            value={status}
            onChange={(e) => setParams(e.target.value ? { status: e.target.value } : {})}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner message={error} />
      <PagedTable
        list={list}
        headings={["Order", "Status", "Market", "Total", "Placed"]}
        row={(order) => (
          <tr key={order.id}>
            <td>
              <Link to={`/orders/${order.id}`}>{order.order_number}</Link>
            </td>
            <td>
              <span className={`status status-${order.status}`}>{order.status}</span>
            </td>
            <td>{order.market}</td>
            <td>{money(order.total_minor, order.currency)}</td>
            <td>
              <Timestamp value={order.created_at} />
            </td>
          </tr>
        )}
        onPage={(next) => setParams({ ...(status ? { status } : {}), page: String(next) })}
      />
    </section>
  );
}

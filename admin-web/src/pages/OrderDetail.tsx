import { useCallback, useEffect, useState } from "react";
import { useParams } from "react-router-dom";

import type { CommerceComponents } from "@shop/client";

import { describe, money, shop, unwrap } from "../api";
import { ErrorBanner, Timestamp } from "../components/common";

type Order = CommerceComponents["schemas"]["OrderView"];
type Status = Order["status"];

/**
 * The moves commerce-service's state machine allows from each status
 * (orders/status.rs); only these are offered. The server still decides:
 * an order another admin moved meanwhile answers `409 invalid_transition`.
 */
const NEXT: Record<Status, Status[]> = {
  pending: ["confirmed", "cancelled"],
  confirmed: ["processing", "cancelled"],
  processing: ["shipped"],
  shipped: ["delivered"],
  delivered: [],
  cancelled: [],
};

export function OrderDetail() {
  const id = Number(useParams().id);
  const [order, setOrder] = useState<Order | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    () =>
      unwrap(shop.commerce.GET("/api/v1/admin/orders/{id}", { params: { path: { id } } }))
        .then(setOrder)
        .catch((failure) => setError(describe(failure))),
    [id],
  );
  useEffect(() => {
    load();
  }, [load]);

  const move = async (status: Status) => {
    setBusy(true);
    setError(null);
    try {
      setOrder(
        await unwrap(
          shop.commerce.POST("/api/v1/admin/orders/{id}/status", { params: { path: { id } }, body: { status } }),
        ),
      );
    } catch (failure) {
      setError(`Could not move the order to ${status}: ${describe(failure)}`);
      // Show what the order is now, so the next choice is a legal one.
      await load();
    } finally {
      setBusy(false);
    }
  };

  if (!order) return <ErrorBanner message={error} />;
  const address = order.shipping_address;
  return (
    <section>
      <h1>Order {order.order_number}</h1>
      <p>
        <span className={`status status-${order.status}`}>{order.status}</span> · {order.market.toUpperCase()} · placed{" "}
        <Timestamp value={order.created_at} />
      </p>
      <ErrorBanner message={error} />
      <div className="actions" aria-label="moves">
        {NEXT[order.status].map((next) => (
          <button
            key={next}
            type="button"
            className={next === "cancelled" ? "danger" : undefined}
            disabled={busy}
            onClick={() => move(next)}
          >
            Mark {next}
          </button>
        ))}
        {NEXT[order.status].length === 0 && <span className="muted">No further moves.</span>}
      </div>
      <h2>Lines</h2>
      <table>
        <thead>
          <tr>
            <th>Item</th>
            <th>SKU</th>
            <th>Quantity</th>
            <th>Unit price</th>
            <th>Line total</th>
          </tr>
        </thead>
        <tbody>
          {order.items.map((item) => (
            <tr key={item.sku_id}>
              <td>{item.name}</td>
              <td>{item.sku_id}</td>
              <td>{item.quantity}</td>
              <td>{money(item.unit_price_minor, order.currency)}</td>
              <td>{money(item.line_total_minor, order.currency)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <td colSpan={4}>Total</td>
            <td>{money(order.total_minor, order.currency)}</td>
          </tr>
        </tfoot>
      </table>
      <div className="columns">
        <div>
          <h2>Shipping address</h2>
          {address ? (
            <address>
              {[address.name, address.line1, address.line2, `${address.postal_code} ${address.city}`, address.country]
                .filter(Boolean)
                .map((line) => (
                  <div key={line}>{line}</div>
                ))}
            </address>
          ) : (
            <p className="muted">None given.</p>
          )}
          {order.note && (
            <>
              <h2>Note</h2>
              <p>{order.note}</p>
            </>
          )}
        </div>
        <div>
          <h2>History</h2>
          <ol className="history">
            {order.status_history.map((change) => (
              <li key={`${change.status}-${change.at}`}>
                {change.status} · <Timestamp value={change.at} />
              </li>
            ))}
          </ol>
        </div>
      </div>
    </section>
  );
}

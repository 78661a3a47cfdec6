import { useCallback, useEffect, useState } from "react";
import { useParams } from "react-router-dom";

import type { AuthComponents } from "@shop/client";

import { describe, shop, unwrap } from "../api";
import { ErrorBanner, Timestamp } from "../components/common";

type User = AuthComponents["schemas"]["UserView"];
type Session = AuthComponents["schemas"]["SessionView"];

export function CustomerDetail() {
  const id = Number(useParams().id);
  const [user, setUser] = useState<User | null>(null);
  const [sessions, setSessions] = useState<Session[]>([]);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const path = { params: { path: { id } } };
      const [found, list] = await Promise.all([
        unwrap(shop.auth.GET("/api/v1/admin/users/{id}", path)),
        unwrap(shop.auth.GET("/api/v1/admin/users/{id}/sessions", path)),
      ]);
      setUser(found);
      setSessions(list.items);
    } catch (failure) {
      setError(describe(failure));
    }
  }, [id]);
  useEffect(() => {
    load();
  }, [load]);

  const act = async (action: Promise<unknown>) => {
    setError(null);
    try {
      await action;
    } catch (failure) {
      setError(describe(failure));
    }
    await load();
  };
  const setActive = (active: boolean) =>
    act(
      unwrap(
        active
          ? shop.auth.POST("/api/v1/admin/users/{id}/activate", { params: { path: { id } } })
          : shop.auth.POST("/api/v1/admin/users/{id}/deactivate", { params: { path: { id } } }),
      ),
    );
  const endSession = (sessionId: string) =>
    act(
      unwrap(
        shop.auth.DELETE("/api/v1/admin/users/{id}/sessions/{session_id}", {
          params: { path: { id, session_id: sessionId } },
        }),
      ),
    );

  if (!user) return <ErrorBanner message={error} />;
  return (
    <section>
      <h1>Customer {user.id}</h1>
      <ErrorBanner message={error} />
      <dl className="facts">
        <dt>Phone</dt>
        <dd>{user.phone ?? "none"}</dd>
        <dt>Email</dt>
        <dd>{user.email ?? "none"}</dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
        <dt>Market</dt>
        <dd>{user.market}</dd>
        <dt>Status</dt>
        <dd aria-label="account status">{user.is_active ? "active" : "deactivated"}</dd>
        <dt>Since</dt>
        <dd>
          <Timestamp value={user.created_at} />
        </dd>
      </dl>
      <div className="actions">
        {user.is_active ? (
          <button type="button" className="danger" onClick={() => setActive(false)}>
            Deactivate
          </button>
        ) : (
          <button type="button" onClick={() => setActive(true)}>
            Activate
          </button>
        )}
      </div>
      <h2>Sessions</h2>
      {sessions.length === 0 ? (
        <p className="muted">No live sessions.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Device</th>
              <th>Started</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sessions.map((session) => (
              <tr key={session.id}>
                <td>{session.device_name ?? "unnamed device"}</td>
                <td>
                  <Timestamp value={session.created_at} />
                </td>
                <td>
                  <Timestamp value={session.last_used_at} />
                </td>
                <td>
                  <button type="button" className="secondary" onClick={() => endSession(session.id)}>
                    End session
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

import { type FormEvent, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { shop, unwrap } from "../api";
import { ErrorBanner, PagedTable, Timestamp } from "../components/common";
import { useLoaded } from "../loaded";

/** A search: a user id, a phone number (with +) or an email address. */
function searchQuery(text: string): { phone?: string; email?: string } {
  const trimmed = text.trim();
  if (trimmed.includes("@")) return { email: trimmed };
  if (trimmed) return { phone: trimmed };
  return {};
}

export function Customers() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const find = params.get("find") ?? "";
  const page = Number(params.get("page") ?? "1");
  const [text, setText] = useState(find);
  const [list, error] = useLoaded(
    () =>
      unwrap(
        shop.auth.GET("/api/v1/admin/users", {
          params: { query: { ...searchQuery(find), page: String(page), per_page: "20" } },
        }),
      ),
    [find, page],
  );

  const submit = (event: FormEvent) => {
    event.preventDefault();
    // A bare number is a user id: straight to that customer.
    if (/^\d+$/.test(text.trim())) {
      navigate(`/customers/${text.trim()}`);
      return;
    }
    setParams(text.trim() ? { find: text.trim() } : {});
  };

  return (
    <section>
      <h1>Customers</h1>
      <form className="toolbar" onSubmit={submit} role="search">
        <input
          type="search"
          aria-label="find customers"
          placeholder="User id, +phone or email"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit">Find</button>
      </form>
      <ErrorBanner message={error} />
      <PagedTable
        list={list}
        headings={["Id", "Phone", "Email", "Role", "Active", "Since"]}
        row={(user) => (
          <tr key={user.id}>
            <td>
              <Link to={`/customers/${user.id}`}>{user.id}</Link>
            </td>
            <td>{user.phone ?? ""}</td>
            <td>{user.email ?? ""}</td>
            <td>{user.role}</td>
            <td>{user.is_active ? "yes" : "deactivated"}</td>
            <td>
              <Timestamp value={user.created_at} />
            </td>
          </tr>
        )}
        onPage={(next) => setParams({ ...(find ? { find } : {}), page: String(next) })}
      />
    </section>
  );
}

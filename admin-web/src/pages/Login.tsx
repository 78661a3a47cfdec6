import { type FormEvent, useState } from "react";

import { describe, shop } from "../api";
import { ErrorBanner, Field } from "../components/common";

export function Login({ onLoggedIn }: { onLoggedIn: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const pair = await shop.loginWithPassword(email, password, "admin panel");
      if (pair.user.role !== "admin") {
        await shop.logout();
        setError("This account is not an admin.");
        return;
      }
      onLoggedIn();
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form onSubmit={submit} aria-label="log in">
        <h1>Shop admin</h1>
        <ErrorBanner message={error} />
        <Field label="Email">
          <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
        </Field>
        <Field label="Password">
          <input
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </Field>
        <button type="submit" disabled={busy}>
          Log in
        </button>
      </form>
    </main>
  );
}

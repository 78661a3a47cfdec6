// The panel's one client of the shop: the typed client of clients/typescript,
// its tokens in localStorage (a reload keeps the admin logged in), kept
// alive by the client's single-flight refresh. The gateway serves the panel
// and the API from one origin, so the base URL is the page's own.
import { ApiError, LocalStorageTokenStorage, type Problem, createShopClient } from "@shop/client";

type Listener = () => void;
const loggedOutListeners = new Set<Listener>();

export const shop = createShopClient({
  baseUrl: window.location.origin,
  storage: new LocalStorageTokenStorage("shop.admin.tokens"),
  onLoggedOut: () => loggedOutListeners.forEach((listener) => listener()),
});

/** Runs `listener` whenever the session ends for good. */
export function onLoggedOut(listener: Listener): () => void {
  loggedOutListeners.add(listener);
  return () => loggedOutListeners.delete(listener);
}

/**
 * What openapi-fetch answered, as data or a thrown `ApiError` (with the
 * problem body), so pages handle one kind of failure.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok && data !== undefined) return data;
  if (response.ok && response.status === 204) return undefined as T;
  throw new ApiError(response.status, (error as Problem | undefined) ?? null);
}

/** The message a person should read for a failure. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    const problem = error.problem;
    const code = problem?.code ? ` (${problem.code})` : "";
    return `${problem?.detail ?? problem?.title ?? `The server answered ${error.status}`}${code}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The field messages of a `422 validation_failed`, by field. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || !error.problem?.errors) return {};
  return Object.fromEntries(error.problem.errors.map(({ field, message }) => [field, message]));
}

export function money(minor: number, currency: string): string {
  return new Intl.NumberFormat("en", { style: "currency", currency }).format(minor / 100);
}

import { readProblem, retryAfterSeconds } from "./problem";
import type { Pause, RetryPolicy } from "./retry";
import type { Session } from "./session";

/** The routes that take no access token (a login, or the refresh itself). */
const TOKENLESS_PATHS = new Set([
  "/api/v1/auth/send-code",
  "/api/v1/auth/verify-code",
  "/api/v1/auth/login",
  "/api/v1/auth/refresh",
]);

export interface TransportOptions {
  session: Session;
  fetch: (request: Request) => Promise<Response>;
  retry: RetryPolicy;
  pause: Pause;
  /** `X-Market` of every request that does not set its own. */
  market: () => string | undefined;
}

/**
 * The `fetch` the generated clients send through: it adds `X-Market` and
 * the access token, answers a `401 token_expired` with one shared refresh
 * and one repeat, and waits out a `429` or `503` that names its
 * `Retry-After` (both mean the server did nothing, so even a POST may be
 * repeated).
 */
export function authenticatedFetch(options: TransportOptions): (request: Request) => Promise<Response> {
  const { session, retry, pause } = options;
  return async (original: Request) => {
    const path = new URL(original.url).pathname;
    const needsToken = !TOKENLESS_PATHS.has(path);
    let refreshed = false;
    let waits = 0;
    for (;;) {
      // A request's body can be sent once: every try sends a copy.
      const request = original.clone();
      const market = options.market();
      if (market !== undefined && !request.headers.has("x-market")) request.headers.set("x-market", market);
      const token = needsToken && !request.headers.has("authorization") ? await session.accessToken() : null;
      if (token) request.headers.set("authorization", `Bearer ${token}`);
      const response = await options.fetch(request);
      if (response.status === 401 && token && !refreshed) {
        const problem = await readProblem(response);
        if (problem?.code === "token_expired") {
          refreshed = true;
          await session.refreshAfter(token);
          continue;
        }
      }
      if ((response.status === 429 || response.status === 503) && waits < retry.attempts) {
        const wait = retryAfterSeconds(response);
        if (wait !== null && wait <= retry.maxRetryAfterSeconds) {
          waits++;
          await pause(wait * 1000);
          continue;
        }
      }
      return response;
    }
  };
}

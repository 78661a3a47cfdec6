import createClient, { type Client } from "openapi-fetch";

import type { components as AuthComponents, paths as AuthPaths } from "./generated/auth-service";
import type { components as CommerceComponents, paths as CommercePaths } from "./generated/commerce-service";
import { ApiError, type LogoutReason, type Problem } from "./problem";
import { DEFAULT_RETRY, type Pause, type RetryPolicy, backoffMs, sleep } from "./retry";
import { Session } from "./session";
import { MemoryTokenStorage, type TokenStorage } from "./tokens";
import { authenticatedFetch } from "./transport";

export type TokenPair = AuthComponents["schemas"]["TokenPair"];
export type Order = CommerceComponents["schemas"]["OrderView"];
export type CreateOrder = CommerceComponents["schemas"]["CreateOrder"];

export interface ShopClientOptions {
  /** The gateway, e.g. `https://shop.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** `X-Market` of every request; `setMarket` changes it. */
  market?: string;
  /** Where the tokens live; in memory unless the app gives its own. */
  storage?: TokenStorage;
  /** Called once when the session ends for good (show the login). */
  onLoggedOut?: (reason: LogoutReason) => void;
  retry?: Partial<RetryPolicy>;
  /**
   * Refresh before a request once the access token has this many seconds
   * left (`null`: only when the server answers `token_expired`).
   */
  refreshAheadSeconds?: number | null;
  /** The network; `globalThis.fetch` by default. */
  fetch?: (request: Request) => Promise<Response>;
  /** How the client waits before a repeat (tests pass their own). */
  pause?: Pause;
}

export interface CheckoutOptions {
  /** The cart's `ETag` (or `version`) the shopper was shown. */
  ifMatch?: string | number;
}

/** The typed clients of both services behind one gateway, sharing one session. */
export interface ShopClient {
  auth: Client<AuthPaths>;
  commerce: Client<CommercePaths>;
  session: Session;
  setMarket(market: string | undefined): void;
  /** Admins: email and password. */
  loginWithPassword(email: string, password: string, deviceName?: string): Promise<TokenPair>;
  /** Customers: the code `sendCode` had sent by SMS. */
  verifyCode(phone: string, code: string, deviceName?: string): Promise<TokenPair>;
  sendCode(phone: string): Promise<void>;
  /** Ends this session on the server, then forgets its tokens. */
  logout(): Promise<void>;
  /**
   * Places the order of the cart: one `Idempotency-Key` for this call, sent
   * again on every repeat (a lost answer, a `503`), so a retried checkout
   * makes one order.
   */
  checkout(body?: CreateOrder, options?: CheckoutOptions): Promise<Order>;
}

export function createShopClient(options: ShopClientOptions): ShopClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const network = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const pause = options.pause ?? sleep;
  let market = options.market;
  const session = new Session({
    baseUrl,
    storage: options.storage ?? new MemoryTokenStorage(),
    fetch: network,
    retry,
    pause,
    onLoggedOut: options.onLoggedOut,
    refreshAheadSeconds: options.refreshAheadSeconds === undefined ? 30 : options.refreshAheadSeconds,
    now: Date.now,
  });
  const transport = authenticatedFetch({ session, fetch: network, retry, pause, market: () => market });
  const auth = createClient<AuthPaths>({ baseUrl, fetch: transport });
  const commerce = createClient<CommercePaths>({ baseUrl, fetch: transport });

  const started = async (result: { data?: TokenPair; error?: unknown; response: Response }) => {
    if (!result.data) throw new ApiError(result.response.status, problemOf(result.error));
    await session.start(result.data);
    return result.data;
  };

  return {
    auth,
    commerce,
    session,
    setMarket(next) {
      market = next;
    },
    async loginWithPassword(email, password, deviceName) {
      return started(
        await auth.POST("/api/v1/auth/login", { body: { email, password, device_name: deviceName ?? null } }),
      );
    },
    async verifyCode(phone, code, deviceName) {
      return started(
        await auth.POST("/api/v1/auth/verify-code", {
          body: { phone, verification_code: code, device_name: deviceName ?? null },
        }),
      );
    },
    async sendCode(phone) {
      const { response, error } = await auth.POST("/api/v1/auth/send-code", { body: { phone } });
      if (!response.ok) throw new ApiError(response.status, problemOf(error));
    },
    async logout() {
      const tokens = await session.current();
      if (!tokens) return;
      try {
        // The refresh token ends the session even when the access token
        // has expired; a failure here still forgets the tokens.
        await network(
          new Request(`${baseUrl}/api/v1/auth/logout`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ refresh_token: tokens.refreshToken }),
          }),
        );
      } finally {
        await session.end("logged_out");
      }
    },
    async checkout(body, checkoutOptions) {
      const key = globalThis.crypto.randomUUID();
      const ifMatch = checkoutOptions?.ifMatch === undefined ? undefined : quoted(checkoutOptions.ifMatch);
      let lastError: unknown = null;
      for (let attempt = 0; attempt <= retry.attempts; attempt++) {
        if (attempt > 0) await pause(backoffMs(retry, attempt));
        let result;
        try {
          result = await commerce.POST("/api/v1/orders", {
            params: { header: { "Idempotency-Key": key, "If-Match": ifMatch } },
            body: body ?? {},
          });
        } catch (error) {
          // The answer was lost: the order may exist; the same key finds it.
          lastError = error;
          continue;
        }
        if (result.data) return result.data;
        const problem = problemOf(result.error);
        lastError = new ApiError(result.response.status, problem);
        // The first try is still being processed: ask again, same key.
        if (result.response.status === 409 && problem?.code === "idempotency_in_progress") continue;
        throw lastError;
      }
      throw lastError;
    },
  };
}

/**
 * The problem body openapi-fetch parsed from an error answer (it reads the
 * body itself, so the response cannot be read again).
 */
function problemOf(error: unknown): Problem | null {
  return typeof error === "object" && error !== null ? (error as Problem) : null;
}

/** An entity tag as `If-Match` wants it. */
function quoted(version: string | number): string {
  const text = String(version);
  return text.startsWith('"') || text.startsWith('W/"') || text === "*" ? text : `"${text}"`;
}

import { ApiError, type LogoutReason, SessionEndedError, readProblem, retryAfterSeconds } from "./problem";
import type { StoredTokens, TokenStorage } from "./tokens";
import { type Pause, type RetryPolicy, backoffMs } from "./retry";

/** A token pair as `verify-code`, `login` and `refresh` answer it. */
export interface TokenPairBody {
  access_token: string;
  refresh_token: string;
  session_id: string;
  expires_in: number;
}

export interface SessionOptions {
  baseUrl: string;
  storage: TokenStorage;
  fetch: (request: Request) => Promise<Response>;
  retry: RetryPolicy;
  pause: Pause;
  /** Called once when the tokens are forgotten for good. */
  onLoggedOut?: (reason: LogoutReason) => void;
  /**
   * Refresh before sending once the access token has this little left (at
   * most a quarter of its life); `null`: only on `401 token_expired`.
   */
  refreshAheadSeconds: number | null;
  now: () => number;
}

/**
 * The tokens of one login and their refresh. Every request of the client
 * asks it for the access token; a `401 token_expired` brings the request
 * back here, and however many come back at once, one refresh runs and the
 * rest wait for it (single flight).
 */
export class Session {
  /** `undefined` until loaded from storage; `null` when logged out. */
  private tokens: StoredTokens | null | undefined;
  private loading: Promise<StoredTokens | null> | null = null;
  private refreshing: Promise<StoredTokens> | null = null;

  constructor(private readonly options: SessionOptions) {}

  /** The current tokens, loaded from storage once. */
  async current(): Promise<StoredTokens | null> {
    if (this.tokens !== undefined) return this.tokens;
    this.loading ??= Promise.resolve(this.options.storage.load()).then((tokens) => {
      // A login may have landed while storage was read: it wins.
      if (this.tokens === undefined) this.tokens = tokens;
      return this.tokens;
    });
    return this.loading;
  }

  /** The access token to send now, refreshed first if it is about to expire. */
  async accessToken(): Promise<string | null> {
    const tokens = this.refreshing ? await this.refreshing.catch(() => this.tokens ?? null) : await this.current();
    if (!tokens) return null;
    if (tokens.refreshAt !== undefined && tokens.refreshAt <= this.options.now()) {
      return this.refreshAfter(tokens.accessToken);
    }
    return tokens.accessToken;
  }

  /** Keeps the pair a login or refresh answered. */
  async start(pair: TokenPairBody): Promise<StoredTokens> {
    const now = this.options.now();
    const ahead = this.options.refreshAheadSeconds;
    const tokens: StoredTokens = {
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      sessionId: pair.session_id,
      // Ahead of expiry, but never in the first three quarters of the
      // token's life: a short-lived token is not refreshed on every call.
      refreshAt:
        ahead === null ? undefined : now + Math.max(pair.expires_in - ahead, pair.expires_in * 0.75) * 1000,
    };
    this.tokens = tokens;
    await this.options.storage.save(tokens);
    return tokens;
  }

  /** Forgets the tokens (and tells the app, unless it asked). */
  async end(reason: LogoutReason): Promise<void> {
    this.tokens = null;
    await this.options.storage.clear();
    this.options.onLoggedOut?.(reason);
  }

  /**
   * A fresh access token for a request that `stale` no longer serves. The
   * first caller starts the refresh; callers meanwhile join it; a caller
   * whose token was already replaced gets the new one without a call.
   */
  async refreshAfter(stale: string): Promise<string> {
    const tokens = await this.current();
    // From here on nothing awaits before `refreshing` is set: two callers
    // cannot both decide to refresh.
    if (this.refreshing) return (await this.refreshing).accessToken;
    if (!tokens) throw new SessionEndedError("not_logged_in");
    if (tokens.accessToken !== stale) return tokens.accessToken;
    this.refreshing = this.refresh(tokens).finally(() => {
      this.refreshing = null;
    });
    return (await this.refreshing).accessToken;
  }

  /**
   * One refresh, retried with the same refresh token when its answer is
   * lost (a network error) or the server asks to wait (429, 503): the
   * server answers a repeat within its grace period with the very successor
   * it made the first time, so a cut-off refresh costs nothing. Only
   * `refresh_reused` and `refresh_invalid` end the session; anything else
   * keeps the tokens and fails this request alone.
   */
  private async refresh(tokens: StoredTokens): Promise<StoredTokens> {
    const { retry, pause } = this.options;
    let lastError: unknown = null;
    let waitMs = 0;
    for (let attempt = 0; attempt <= retry.attempts; attempt++) {
      if (waitMs > 0) await pause(waitMs);
      let response: Response;
      try {
        response = await this.options.fetch(
          new Request(`${this.options.baseUrl}/api/v1/auth/refresh`, {
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/json" },
            body: JSON.stringify({ refresh_token: tokens.refreshToken }),
          }),
        );
      } catch (error) {
        lastError = error;
        waitMs = backoffMs(retry, attempt + 1);
        continue;
      }
      if (response.ok) {
        const pair = (await response.json()) as TokenPairBody;
        return this.start(pair);
      }
      const problem = await readProblem(response);
      if (response.status === 401 && (problem?.code === "refresh_reused" || problem?.code === "refresh_invalid")) {
        await this.end(problem.code);
        throw new SessionEndedError(problem.code);
      }
      lastError = new ApiError(response.status, problem);
      if (response.status === 429 || response.status === 503) {
        const wait = retryAfterSeconds(response);
        if (wait !== null && wait <= retry.maxRetryAfterSeconds) {
          waitMs = wait * 1000;
          continue;
        }
      }
      // A refusal that no repeat will change (and that is not the end of
      // the session): this request fails, the tokens stay.
      throw lastError;
    }
    throw lastError;
  }
}

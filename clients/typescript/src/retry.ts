/** How the client repeats what may be repeated. */
export interface RetryPolicy {
  /** Repeats after the first try (so `attempts + 1` tries at most). */
  attempts: number;
  /** The first pause after a network error, doubled each time. */
  baseDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the error goes to the caller. */
  maxRetryAfterSeconds: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxRetryAfterSeconds: 30 };

/** Waits; a test passes a clock of its own. */
export type Pause = (ms: number) => Promise<void>;

export const sleep: Pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The pause before repeat `attempt` (1-based) after a network error. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return policy.baseDelayMs * 2 ** (attempt - 1);
}

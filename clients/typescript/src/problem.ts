/** An RFC 9457 problem, as both services answer every error. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  /** The machine-readable part: `token_expired`, `validation_failed`, ... */
  code?: string;
  request_id?: string;
  /** Per-field messages of a `422 validation_failed`. */
  errors?: { field: string; message: string }[];
  [member: string]: unknown;
}

/** A request the server refused; `problem` is its body when it had one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | null,
  ) {
    super(problem?.detail ?? problem?.title ?? `the server answered ${status}`);
    this.name = "ApiError";
  }

  get code(): string | undefined {
    return this.problem?.code;
  }
}

/**
 * The session is over for good (the server refused its refresh token as
 * reused or invalid, or the user logged out): the app shows its login.
 */
export class SessionEndedError extends Error {
  constructor(readonly reason: LogoutReason) {
    super(`the session has ended (${reason})`);
    this.name = "SessionEndedError";
  }
}

/** Why the client forgot its tokens. */
export type LogoutReason = "refresh_reused" | "refresh_invalid" | "logged_out" | "not_logged_in";

/** The body of an error answer, without consuming the caller's copy. */
export async function readProblem(response: Response): Promise<Problem | null> {
  const type = response.headers.get("content-type") ?? "";
  if (!type.includes("json")) return null;
  try {
    const body: unknown = await response.clone().json();
    return typeof body === "object" && body !== null ? (body as Problem) : null;
  } catch {
    return null;
  }
}

/**
 * Seconds the server asked us to wait (`Retry-After`, delta-seconds or an
 * HTTP date), or `null` when it named none.
 */
export function retryAfterSeconds(response: Response, now: number = Date.now()): number | null {
  const value = response.headers.get("retry-after");
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

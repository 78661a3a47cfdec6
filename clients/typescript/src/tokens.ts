/** What the client keeps between launches. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  /** When to refresh ahead of the access token's expiry (ms since the epoch), if known. */
  refreshAt?: number;
}

/**
 * Where tokens live. The app plugs in its secure storage (Keychain,
 * Keystore); memory and `localStorage` implementations are below. Every
 * method may be asynchronous.
 */
export interface TokenStorage {
  load(): Promise<StoredTokens | null> | StoredTokens | null;
  save(tokens: StoredTokens): Promise<void> | void;
  clear(): Promise<void> | void;
}

/** Tokens for the life of the process: tests, servers, a tab that forgets. */
export class MemoryTokenStorage implements TokenStorage {
  private tokens: StoredTokens | null = null;

  load(): StoredTokens | null {
    return this.tokens;
  }

  save(tokens: StoredTokens): void {
    this.tokens = { ...tokens };
  }

  clear(): void {
    this.tokens = null;
  }
}

/**
 * Tokens in the browser's `localStorage` under one key (the admin panel).
 * Anything unreadable there counts as logged out.
 */
export class LocalStorageTokenStorage implements TokenStorage {
  constructor(
    private readonly key = "shop.tokens",
    private readonly storage: Storage = globalThis.localStorage,
  ) {}

  load(): StoredTokens | null {
    const raw = this.storage.getItem(this.key);
    if (raw === null) return null;
    try {
      const value = JSON.parse(raw) as Partial<StoredTokens>;
      if (typeof value.accessToken === "string" && typeof value.refreshToken === "string" && typeof value.sessionId === "string") {
        return value as StoredTokens;
      }
    } catch {
      // fall through: a damaged entry is no session
    }
    return null;
  }

  save(tokens: StoredTokens): void {
    this.storage.setItem(this.key, JSON.stringify(tokens));
  }

  clear(): void {
    this.storage.removeItem(this.key);
  }
}

import { describe, expect, it } from "vitest";

import { MemoryTokenStorage, type LogoutReason, SessionEndedError } from "../src";
import { authCounter, client, customerLogin, flakyNetwork, sleep, stack } from "./stack";

const ROTATED = 'refresh_rotations_total{outcome="rotated"}';
const GRACE_RETRY = 'refresh_rotations_total{outcome="grace_retry"}';
const REUSED = 'refresh_rotations_total{outcome="reused"}';

describe("single-flight refresh", () => {
  it.skipIf(stack.accessTtlSeconds === null || stack.accessTtlSeconds > 30)(
    "fifty concurrent calls with an expired access token make one refresh, and all succeed",
    async () => {
      const network = flakyNetwork();
      // Only the server's `401 token_expired` may start the refresh here.
      const shop = client({ fetch: network.fetch, refreshAheadSeconds: null });
      await customerLogin(shop);
      const before = await shop.session.current();
      await sleep((stack.accessTtlSeconds! + 1) * 1000);
      const rotatedBefore = await authCounter(ROTATED);

      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0 ? shop.commerce.GET("/api/v1/cart") : shop.auth.GET("/api/v1/auth/me"),
        ),
      );

      expect(answers.map((answer) => answer.response.status)).toEqual(Array(50).fill(200));
      expect(network.count("/api/v1/auth/refresh")).toBe(1);
      expect((await authCounter(ROTATED)) - rotatedBefore).toBe(1);
      const after = await shop.session.current();
      expect(after?.sessionId).toBe(before?.sessionId);
      expect(after?.accessToken).not.toBe(before?.accessToken);
    },
  );

  it("fifty concurrent refreshes forced at once make one refresh call", async () => {
    const network = flakyNetwork();
    const shop = client({ fetch: network.fetch });
    await customerLogin(shop);
    const stale = (await shop.session.current())!.accessToken;
    const rotatedBefore = await authCounter(ROTATED);

    const tokens = await Promise.all(Array.from({ length: 50 }, () => shop.session.refreshAfter(stale)));

    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(stale);
    expect(network.count("/api/v1/auth/refresh")).toBe(1);
    expect((await authCounter(ROTATED)) - rotatedBefore).toBe(1);
    const { response } = await shop.auth.GET("/api/v1/auth/me");
    expect(response.status).toBe(200);
  });

  it("a refresh whose answer is lost is sent again with the same token, and the session survives", async () => {
    const network = flakyNetwork();
    const loggedOut: LogoutReason[] = [];
    const shop = client({ fetch: network.fetch, onLoggedOut: (reason) => loggedOut.push(reason) });
    await customerLogin(shop);
    const first = (await shop.session.current())!;
    const [graceBefore, reusedBefore] = [await authCounter(GRACE_RETRY), await authCounter(REUSED)];

    network.dropAnswer((request) => request.url.endsWith("/api/v1/auth/refresh"));
    await shop.session.refreshAfter(first.accessToken);

    // The server rotated on the lost call and answered the repeat with the
    // same successor: no reuse was detected, the session lives on.
    expect(network.count("/api/v1/auth/refresh")).toBe(2);
    expect((await authCounter(GRACE_RETRY)) - graceBefore).toBe(1);
    expect((await authCounter(REUSED)) - reusedBefore).toBe(0);
    expect(loggedOut).toEqual([]);
    const second = (await shop.session.current())!;
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await shop.auth.GET("/api/v1/auth/me")).response.status).toBe(200);
    // And the successor rotates on as usual.
    await shop.session.refreshAfter(second.accessToken);
    expect((await shop.auth.GET("/api/v1/auth/me")).response.status).toBe(200);
    expect(loggedOut).toEqual([]);
  });

  it("a network that stays down fails the call but keeps the session", async () => {
    let down = false;
    const loggedOut: LogoutReason[] = [];
    const shop = client({
      fetch: (request) => (down ? Promise.reject(new TypeError("fetch failed: offline")) : fetch(request)),
      onLoggedOut: (reason) => loggedOut.push(reason),
      retry: { attempts: 2, baseDelayMs: 10 },
    });
    await customerLogin(shop);
    const tokens = (await shop.session.current())!;

    down = true;
    await expect(shop.session.refreshAfter(tokens.accessToken)).rejects.toThrow(/offline/);
    expect(await shop.session.current()).toEqual(tokens);
    expect(loggedOut).toEqual([]);

    down = false;
    await shop.session.refreshAfter(tokens.accessToken);
    expect((await shop.auth.GET("/api/v1/auth/me")).response.status).toBe(200);
    expect(loggedOut).toEqual([]);
  });

  it("a refresh token used twice ends the session on both copies", async () => {
    const storage = new MemoryTokenStorage();
    const loggedOut: LogoutReason[] = [];
    const shop = client({ storage, onLoggedOut: (reason) => loggedOut.push(reason) });
    await customerLogin(shop);
    const stolen = (await shop.session.current())!;
    await shop.session.refreshAfter(stolen.accessToken);
    // Past the server's grace period, the old token is a reuse.
    await sleep((stack.refreshGraceSeconds + 1) * 1000);

    const thief = client({ storage: { load: () => stolen, save: () => {}, clear: () => {} } });
    await expect(thief.session.refreshAfter(stolen.accessToken)).rejects.toBeInstanceOf(SessionEndedError);
    const current = (await shop.session.current())!;
    await expect(shop.session.refreshAfter(current.accessToken)).rejects.toMatchObject({ reason: "refresh_invalid" });
    expect(loggedOut).toEqual(["refresh_invalid"]);
    expect(storage.load()).toBeNull();
  });
});

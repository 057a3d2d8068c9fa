import { afterEach, describe, expect, it } from "vitest";
import { gatewayUrl, readToken, storedToken, takeFragment } from "./auth";

function jwt(claims: object): string {
  const encode = (value: object) =>
    btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}.signature`;
}

const NOW = 1_800_000_000;

describe("readToken", () => {
  it("reads a tenant's claims", () => {
    const token = jwt({ sub: "u-1", role: "authenticated", exp: NOW + 60 });
    expect(readToken(token, NOW)).toEqual({ token, role: "authenticated", sub: "u-1", exp: NOW + 60 });
  });

  it("reads an administrator without sub", () => {
    const session = readToken(jwt({ role: "service_role", exp: NOW + 60 }), NOW);
    expect(session).toMatchObject({ role: "service_role", sub: null });
  });

  it("says why a token gives no session", () => {
    expect(readToken("nonsense", NOW)).toBe("invalid");
    expect(readToken("a.%%%.c", NOW)).toBe("invalid");
    expect(readToken(jwt({ role: "anon", exp: NOW + 60 }), NOW)).toBe("role");
    expect(readToken(jwt({ role: "authenticated" }), NOW)).toBe("invalid");
    expect(readToken(jwt({ role: "authenticated", exp: NOW - 1 }), NOW)).toBe("expired");
  });
});

describe("the dev sign-in link", () => {
  afterEach(() => {
    sessionStorage.clear();
    localStorage.clear();
  });

  it("takes the token and gateway from the fragment and wipes it", () => {
    window.history.replaceState(null, "", "/ui/#token=abc.def.ghi&gateway=http://gw:9000/");
    takeFragment(window.location, window.history);
    expect(storedToken()).toBe("abc.def.ghi");
    expect(gatewayUrl(window.location)).toBe("http://gw:9000");
    expect(window.location.hash).toBe("#/");
    expect(window.location.href).not.toContain("abc.def.ghi");
  });

  it("leaves an ordinary route alone", () => {
    window.history.replaceState(null, "", "/ui/#/groq");
    takeFragment(window.location, window.history);
    expect(storedToken()).toBeNull();
    expect(window.location.hash).toBe("#/groq");
  });
});

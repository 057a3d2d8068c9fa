// The session: a Supabase-compatible JWT, kept in this tab's sessionStorage only. The API
// checks the signature; here the claims are only read to choose the pages and spot expiry.

export type Role = "authenticated" | "service_role";

export interface Session {
  token: string;
  role: Role;
  sub: string | null;
  exp: number;
}

const TOKEN_KEY = "ui.token";
const GATEWAY_KEY = "ui.gatewayUrl";

export type SessionProblem = "invalid" | "role" | "expired";

function decodeSegment(segment: string): unknown {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The session a token gives, or why it gives none. */
export function readToken(
  token: string,
  nowSeconds: number = Date.now() / 1000,
): Session | SessionProblem {
  const parts = token.trim().split(".");
  if (parts.length !== 3 || !parts[1]) return "invalid";
  let claims: unknown;
  try {
    claims = decodeSegment(parts[1]);
  } catch {
    return "invalid";
  }
  if (typeof claims !== "object" || claims === null) return "invalid";
  const { role, sub, exp } = claims as Record<string, unknown>;
  if (role !== "authenticated" && role !== "service_role") return "role";
  if (typeof exp !== "number") return "invalid";
  if (exp <= nowSeconds) return "expired";
  return { token: token.trim(), role, sub: typeof sub === "string" ? sub : null, exp };
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * The dev sign-in link carries `#token=…&gateway=…` in the fragment (never sent to a server,
 * never in a log). Take them, then wipe the fragment so the token leaves the address bar and
 * the history entry.
 */
export function takeFragment(location: Location, history: History): void {
  const fragment = location.hash.replace(/^#/, "");
  if (!fragment.startsWith("token=")) return;
  const params = new URLSearchParams(fragment);
  const token = params.get("token");
  const gateway = params.get("gateway");
  if (token) storeToken(token);
  if (gateway) storeGatewayUrl(gateway);
  history.replaceState(null, "", location.pathname + location.search + "#/");
}

export function gatewayUrl(location: Location): string {
  return (
    localStorage.getItem(GATEWAY_KEY) ?? `${location.protocol}//${location.hostname}:8000`
  );
}

export function storeGatewayUrl(url: string): void {
  localStorage.setItem(GATEWAY_KEY, url.replace(/\/+$/, ""));
}

// Renders a page against a scripted config API (fetch replaced), recording what it sent.
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { vi } from "vitest";
import { makeClient } from "../api/client";
import { Session } from "../context";

export interface Sent {
  method: string;
  path: string;
  body: string;
}

export function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** `answer` gets the method and path (with query) of each call and returns the API's answer. */
export function renderWithApi(page: ReactNode, answer: (method: string, path: string, body: string) => Response): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      const body = request.method === "GET" || request.method === "DELETE" ? "" : await request.clone().text();
      const path = `${url.pathname}${url.search}`;
      sent.push({ method: request.method, path, body });
      return answer(request.method, path, body);
    }),
  );
  const client = makeClient("tok", () => {}, "http://config");
  const session = { token: "tok", role: "authenticated" as const, sub: "u", exp: 0 };
  render(<Session.Provider value={{ client, session, gatewayUrl: "https://gw.example" }}>{page}</Session.Provider>);
  return sent;
}

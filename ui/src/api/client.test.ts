import { describe, expect, it, vi } from "vitest";
import { ApiError, call, callOrNull, errorText, makeClient } from "./client";

describe("errorText", () => {
  it("shows the API's detail, or where and why for a 422", () => {
    expect(errorText(409, { detail: "this phone number is already active" })).toBe("this phone number is already active");
    expect(errorText(422, { detail: [{ loc: ["body", "temperature"], msg: "must be <= 2" }] })).toBe("temperature: must be <= 2");
    expect(errorText(500, null)).toBe("HTTP 500");
  });
});

describe("the config API client", () => {
  it("sends the bearer token and signs out on 401", async () => {
    const seen: string[] = [];
    const fetchMock = vi.fn(async (request: Request) => {
      seen.push(request.headers.get("Authorization") ?? "");
      return new Response(JSON.stringify({ detail: "expired" }), { status: 401, headers: { "Content-Type": "application/json" } });
    });
    vi.stubGlobal("fetch", fetchMock);
    const unauthorized = vi.fn();
    const client = makeClient("tok", unauthorized, "http://config");
    await expect(call(client.GET("/v1/me/groq-config"))).rejects.toEqual(new ApiError(401, "expired"));
    expect(seen).toEqual(["Bearer tok"]);
    expect(unauthorized).toHaveBeenCalledOnce();
    vi.unstubAllGlobals();
  });

  it("reads a 404 as nothing configured", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ detail: "no Groq configuration configured" }), { status: 404, headers: { "Content-Type": "application/json" } })));
    const client = makeClient("tok", () => {}, "http://config");
    expect(await callOrNull(client.GET("/v1/me/groq-config"))).toBeNull();
    vi.unstubAllGlobals();
  });
});

import { describe, expect, it, vi } from "vitest";
import { sendTestMessage } from "./gateway";

function answer(status: number, body: object): typeof fetch {
  return vi.fn(async () => new Response(JSON.stringify(body), { status })) as unknown as typeof fetch;
}

describe("sendTestMessage", () => {
  it("posts to /api-chatbot with the key and reads the reply", async () => {
    const fetcher = answer(200, { success: true, response: "Bonjour !", traceId: "t".repeat(32), messageId: "m1", userId: "u" });
    const result = await sendTestMessage("http://gw:8000/", "k3y", { text: "Salut", phoneNumber: "+33612345678" }, fetcher);
    expect(result).toEqual({ kind: "reply", response: "Bonjour !", traceId: "t".repeat(32), messageId: "m1" });
    const [url, init] = (fetcher as unknown as ReturnType<typeof vi.fn>).mock.calls[0] as [string, RequestInit];
    expect(url).toBe("http://gw:8000/api-chatbot");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer k3y");
    expect(JSON.parse(init.body as string)).toMatchObject({ text: "Salut", phoneNumber: "+33612345678" });
  });

  it("tells configRequired apart from other failures", async () => {
    const error = "Service de messagerie non configuré. Veuillez contacter l'administrateur.";
    expect(await sendTestMessage("http://gw", "k", { text: "a", phoneNumber: "b" }, answer(503, { success: false, error, retryable: false, configRequired: true })))
      .toEqual({ kind: "configRequired", error });
    expect(await sendTestMessage("http://gw", "k", { text: "a", phoneNumber: "b" }, answer(401, { detail: "no" })))
      .toEqual({ kind: "error", status: 401, error: "HTTP 401" });
  });

  it("says when the gateway does not answer", async () => {
    const down = vi.fn(async () => { throw new TypeError("Failed to fetch"); }) as unknown as typeof fetch;
    expect(await sendTestMessage("http://gw", "k", { text: "a", phoneNumber: "b" }, down)).toEqual({ kind: "unreachable" });
  });
});

// The test-message box calls the gateway's generic endpoint from the browser, with a gateway
// key the user types (held in memory only). The gateway allows this cross-origin call: the
// endpoint takes a bearer key, never a cookie, so another origin gains nothing without it.

export interface TestMessage {
  text: string;
  phoneNumber: string;
}

export type TestResult =
  | { kind: "reply"; response: string; traceId: string; messageId: string }
  | { kind: "configRequired"; error: string }
  | { kind: "error"; status: number; error: string }
  | { kind: "unreachable" };

export async function sendTestMessage(
  gatewayUrl: string,
  key: string,
  message: TestMessage,
  fetcher: typeof fetch = fetch,
): Promise<TestResult> {
  let response: Response;
  try {
    response = await fetcher(`${gatewayUrl.replace(/\/+$/, "")}/api-chatbot`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ ...message, source: "ui-test" }),
    });
  } catch {
    return { kind: "unreachable" };
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.ok && body.success === true) {
    return {
      kind: "reply",
      response: String(body.response ?? ""),
      traceId: String(body.traceId ?? ""),
      messageId: String(body.messageId ?? ""),
    };
  }
  const error = typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
  if (body.configRequired === true) return { kind: "configRequired", error };
  return { kind: "error", status: response.status, error };
}

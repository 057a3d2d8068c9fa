import { describe, expect, it } from "vitest";
import { e164, httpUrl, optional, phoneNumberId, randomToken, required, temperature, twilioSid, validate } from "./validate";

describe("field checks mirror the API's rules", () => {
  it("phone numbers in E.164", () => {
    expect(e164("+33612345678")).toBeNull();
    expect(e164("+1 (415) 555-0123")).toBeNull();
    expect(e164("0612345678")).toBe("whatsapp.e164");
  });

  it("ids, sids, temperatures and URLs", () => {
    expect(phoneNumberId("PN_123-a")).toBeNull();
    expect(phoneNumberId("a b")).toBe("whatsapp.phoneNumberIdInvalid");
    expect(twilioSid(`AC${"a".repeat(32)}`)).toBeNull();
    expect(twilioSid("AC123")).toBe("twilio.sidInvalid");
    expect(temperature("0")).toBeNull();
    expect(temperature("2")).toBeNull();
    expect(temperature("2.1")).toBe("groq.temperatureInvalid");
    expect(temperature("")).toBe("groq.temperatureInvalid");
    expect(httpUrl("https://example.com/hook")).toBeNull();
    expect(httpUrl("ftp://example.com")).toBe("links.urlInvalid");
    expect(optional(httpUrl)("")).toBeNull();
  });

  it("reports the first problem of each field only", () => {
    const problems = validate(
      { a: "", b: "x", c: "+33612345678" },
      { a: [required, e164], b: [required, e164], c: [required, e164] },
    );
    expect(problems).toEqual({ a: "app.required", b: "whatsapp.e164" });
  });

  it("generates URL-safe verify tokens", () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(randomToken()).not.toBe(token);
  });
});

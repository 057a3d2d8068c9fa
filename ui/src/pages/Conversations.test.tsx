import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderWithApi } from "../test/api";
import { translator } from "../i18n";
import { ConversationsListPage, ownerText } from "./Conversations";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const KEY = "whatsapp:+14155550100:+33612345678";
const bot = { owner: "bot", until: null, changed_by: null, actor: null, reason: null, changed_at: null };
const page = {
  limit: 100,
  offset: 0,
  total: 1,
  tenant_owner: null,
  items: [{ conversation_key: KEY, channel: "whatsapp", customer_phone: "+33612345678", business_phone: "+14155550100", first_message_at: "2026-01-01T10:00:00Z", last_message_at: "2026-01-01T10:05:00Z", message_count: 3, owner: bot }],
};

describe("ConversationsListPage", () => {
  it("pauses one conversation, then every conversation, and shows the new state", async () => {
    const sent = renderWithApi(<ConversationsListPage />, (method, path, body) => {
      if (method === "PUT") {
        const key = path.includes("/owner") && !path.endsWith("/conversations/owner") ? KEY : null;
        return json(200, { conversation_key: key, owner: JSON.parse(body).owner, until: "2026-01-02T10:00:00Z", changed_by: "tenant_api", changed_at: "2026-01-01T10:06:00Z", event_id: "e" });
      }
      return json(200, page);
    });
    const one = await screen.findByRole("switch", { name: "Bot actif pour +33612345678" });
    expect(one.getAttribute("aria-checked")).toBe("true");
    fireEvent.click(one);
    await waitFor(() => expect(screen.getByTestId(`owner-${KEY}`).textContent).toMatch(/^En pause jusqu'au .* \(par vous\)$/));
    expect(screen.getByRole("switch", { name: "Bot actif pour +33612345678" }).getAttribute("aria-checked")).toBe("false");
    const put = sent.find((s) => s.method === "PUT")!;
    expect(put.path).toBe(`/v1/me/conversations/${encodeURIComponent(KEY)}/owner`);
    expect(JSON.parse(put.body)).toEqual({ owner: "paused" });

    fireEvent.click(screen.getByRole("switch", { name: "Bot actif pour toutes les conversations" }));
    await waitFor(() => expect(screen.getByTestId("tenant-owner").textContent).toMatch(/^En pause/));
    expect(sent.filter((s) => s.method === "PUT")[1]!.path).toBe("/v1/me/conversations/owner");
    expect(screen.getByRole("switch", { name: "Bot actif pour toutes les conversations" }).textContent).toBe("Tout rendre au bot");
  });

  it("pages through more conversations than one answer holds", async () => {
    const sent = renderWithApi(<ConversationsListPage />, (_m, path) => {
      const offset = Number(new URLSearchParams(path.split("?")[1]).get("offset"));
      return json(200, { ...page, offset, total: 101, items: offset === 0 ? Array.from({ length: 100 }, (_, i) => ({ ...page.items[0]!, conversation_key: `k${i}` })) : page.items });
    });
    expect(await screen.findByText("1 à 100 sur 101")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Suivantes" }));
    expect(await screen.findByText("101 à 101 sur 101")).toBeTruthy();
    expect(sent.at(-1)?.path).toBe("/v1/me/conversations?limit=100&offset=100");
    expect((screen.getByRole("button", { name: "Suivantes" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("says when there is no conversation yet", async () => {
    renderWithApi(<ConversationsListPage />, () => json(200, { ...page, total: 0, items: [] }));
    expect(await screen.findByText("Rien pour l'instant.")).toBeTruthy();
  });
});

describe("ownerText", () => {
  it("says who changed the owner and why, and keeps an unknown cause as it is", () => {
    const t = translator("en");
    expect(ownerText(t, "en", { ...bot, owner: "human", changed_by: "customer_request", reason: "asked for a person" })).toBe("Person (the customer asked) — asked for a person");
    expect(ownerText(t, "en", { ...bot, owner: "paused", changed_by: "something_new", actor: "+3361" })).toBe("Paused (something_new, +3361)");
  });
});

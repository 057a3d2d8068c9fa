import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderWithApi } from "../test/api";
import { limitProblems, limitsBody, LimitsPage, MyLimitsCard } from "./Limits";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const POLITE = "Nous recevons beaucoup de messages.";
const none = { messages_per_minute: null, tokens_per_day: null, flood_per_minute: null, use_cheaper_model: true, use_system_fallback: false, polite_text: POLITE, updated_at: null };
const TENANT = "0b7c6a1e-2f4d-4c1a-9e55-3a1f0c2b9d10";
const coverage = { total: 1, configured: 1, missing: 0, limit: 100, offset: 0, users: [{ user_id: TENANT, groq_status: "Configured", last_message_at: null }] };

describe("limit checks", () => {
  const ok = { messages_per_minute: "", tokens_per_day: "", flood_per_minute: "", polite_text: "x" };
  it("mirror the API's ranges, empty meaning no limit", () => {
    expect(limitProblems(ok)).toEqual({});
    expect(limitProblems({ ...ok, messages_per_minute: "0", tokens_per_day: "999", flood_per_minute: "1001", polite_text: " " })).toEqual({
      messages_per_minute: "limits.messagesInvalid", tokens_per_day: "limits.tokensInvalid", flood_per_minute: "limits.floodInvalid", polite_text: "limits.politeInvalid",
    });
    expect(limitProblems({ ...ok, messages_per_minute: "100000", tokens_per_day: "1000000000", flood_per_minute: "2.5" })).toEqual({ flood_per_minute: "limits.floodInvalid" });
    expect(limitProblems({ ...ok, polite_text: "a".repeat(1001) })).toEqual({ polite_text: "limits.politeInvalid" });
  });

  it("send the whole set, null for no limit", () => {
    expect(limitsBody({ messages_per_minute: "5", tokens_per_day: "", flood_per_minute: "3", polite_text: " merci " }, false, true)).toEqual({
      messages_per_minute: 5, tokens_per_day: null, flood_per_minute: 3, use_cheaper_model: false, use_system_fallback: true, polite_text: "merci",
    });
  });
});

describe("LimitsPage", () => {
  it("catches an out-of-range default before sending, then saves the whole set", async () => {
    const sent = renderWithApi(<LimitsPage />, (_method, path) => {
      if (path.startsWith("/v1/admin/config-coverage")) return json(200, coverage);
      return json(200, { ...none, applies: "system" });
    });
    const form = await screen.findByRole("form", { name: "Par défaut (système)" });
    const tokens = form.querySelector<HTMLInputElement>('[name="tokens_per_day"]')!;
    fireEvent.change(tokens, { target: { value: "10" } });
    fireEvent.click(screen.getAllByRole("button", { name: "Enregistrer" })[0]!);
    expect(await screen.findByText("Un nombre entier entre 1000 et 1000000000, ou vide.")).toBeTruthy();
    expect(sent.filter((s) => s.method === "PUT")).toEqual([]);
    fireEvent.change(tokens, { target: { value: "50000" } });
    fireEvent.click(screen.getAllByRole("button", { name: "Enregistrer" })[0]!);
    await waitFor(() => expect(sent.find((s) => s.method === "PUT")?.path).toBe("/v1/admin/limits"));
    expect(JSON.parse(sent.find((s) => s.method === "PUT")!.body)).toMatchObject({ tokens_per_day: 50000, messages_per_minute: null });
    expect(await screen.findByText("Enregistré.")).toBeTruthy();
  });

  it("shows what applies to a picked account, sets its own, and inherits again after confirming", async () => {
    let own: object | null = null;
    const sent = renderWithApi(<LimitsPage />, (method, path, body) => {
      if (path.startsWith("/v1/admin/config-coverage")) return json(200, coverage);
      if (path === "/v1/admin/limits") return json(200, { ...none, applies: "system" });
      if (method === "PUT") {
        own = { ...JSON.parse(body), applies: "tenant", updated_at: "2026-01-01T00:00:00Z" };
        return json(200, own);
      }
      if (method === "DELETE") {
        own = null;
        return json(204, null);
      }
      return json(200, own ?? { ...none, applies: "system" });
    });
    fireEvent.click(await screen.findByRole("button", { name: "Voir ses limites" }));
    expect(await screen.findByText("Un UUID (8-4-4-4-12 caractères hexadécimaux).")).toBeTruthy();
    await screen.findByRole("option", { name: TENANT });
    fireEvent.change(screen.getByLabelText("Ou choisir un compte"), { target: { value: TENANT } });
    fireEvent.click(screen.getByRole("button", { name: "Voir ses limites" }));
    expect((await screen.findByTestId("tenant-applies")).textContent).toBe("Aucune limite propre : le réglage par défaut du système s'applique.");
    const form = screen.getByRole("form", { name: "Enregistrer ses propres limites" });
    fireEvent.change(form.querySelector('[name="messages_per_minute"]')!, { target: { value: "7" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer ses propres limites" }));
    await waitFor(() => expect(screen.getByTestId("tenant-applies").textContent).toBe("Ses propres limites s'appliquent."));
    expect(sent.find((s) => s.method === "PUT")?.path).toBe(`/v1/admin/tenants/${TENANT}/limits`);
    fireEvent.click(screen.getByRole("button", { name: "Revenir au réglage par défaut" }));
    expect(screen.getByRole("alertdialog").textContent).toContain(TENANT);
    expect(sent.filter((s) => s.method === "DELETE")).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Confirmer" }));
    expect(await screen.findByText("Le réglage par défaut s'applique de nouveau.")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("tenant-applies").textContent).toContain("réglage par défaut du système"));
    expect(sent.filter((s) => s.method === "DELETE").map((s) => s.path)).toEqual([`/v1/admin/tenants/${TENANT}/limits`]);
  });

  it("shows the API's error text", async () => {
    renderWithApi(<LimitsPage />, (method, path) => {
      if (path.startsWith("/v1/admin/config-coverage")) return json(200, { ...coverage, users: [] });
      if (method === "PUT") return json(422, { detail: "tokens_per_day: must be at least 1000" });
      return json(200, { ...none, applies: "system" });
    });
    fireEvent.click((await screen.findAllByRole("button", { name: "Enregistrer" }))[0]!);
    expect(await screen.findByText(/must be at least 1000/)).toBeTruthy();
  });
});

describe("MyLimitsCard", () => {
  it("says whose limits apply, read-only", () => {
    render(<MyLimitsCard limits={{ ...none, tokens_per_day: 20000, flood_per_minute: 4, applies: "tenant" }} />);
    expect(screen.getByTestId("my-limits-applies").textContent).toBe("Des limites propres à votre compte s'appliquent (fixées par l'administrateur).");
    expect(screen.getByTestId("my-limits-budget").textContent).toBe("Budget de jetons par jour : 20000.");
    expect(screen.getByTestId("my-limits-rates").textContent).toBe("Messages par minute : pas de limite ; anti-flood (messages par minute d'un même client) : 4.");
    expect(screen.queryByRole("button")).toBeNull();
  });
});

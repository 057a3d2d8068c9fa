import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderWithApi } from "../test/api";
import { defaultRange, perDay, rangeProblems, UsagePage } from "./Usage";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const row = { key_id: "k", model: "m", requests: 2, prompt_tokens: 10, completion_tokens: 5, audio_seconds: 0, failures: 0, rate_limits: null };

describe("usage helpers", () => {
  it("sums every key and model per day and fills quiet days with 0", () => {
    const days = perDay({ from: "2026-01-01", to: "2026-01-03", rows: [
      { ...row, day: "2026-01-01" },
      { ...row, day: "2026-01-01", model: "audio", requests: 0, prompt_tokens: 0, completion_tokens: 0, audio_seconds: 12.5 },
      { ...row, day: "2026-01-03", failures: 1 },
    ] });
    expect(days).toEqual([
      { day: "2026-01-01", requests: 2, tokens: 15, audio_seconds: 12.5, failures: 0 },
      { day: "2026-01-02", requests: 0, tokens: 0, audio_seconds: 0, failures: 0 },
      { day: "2026-01-03", requests: 2, tokens: 15, audio_seconds: 0, failures: 1 },
    ]);
  });

  it("checks the range as the API does", () => {
    expect(defaultRange(new Date("2026-03-01T12:00:00Z"))).toEqual({ from: "2026-01-31", to: "2026-03-01" });
    expect(rangeProblems("2026-01-02", "2026-01-01")).toEqual({ to: "usage.rangeInvalid" });
    expect(rangeProblems("2024-12-31", "2026-01-01")).toEqual({ to: "usage.rangeInvalid" });
    expect(rangeProblems("2025-01-01", "2026-01-01")).toEqual({});
    expect(rangeProblems("", "2026-01-01")).toEqual({ from: "usage.dayInvalid" });
  });
});

const limits = { messages_per_minute: 30, tokens_per_day: 20000, flood_per_minute: null, use_cheaper_model: true, use_system_fallback: false, polite_text: "p", applies: "system", updated_at: null };

describe("UsagePage", () => {
  it("asks for the chosen range and says when nothing was used", async () => {
    const sent = renderWithApi(<UsagePage />, (_m, path) => {
      if (path === "/v1/me/limits") return json(200, limits);
      const query = new URLSearchParams(path.split("?")[1]);
      return json(200, { from: query.get("from"), to: query.get("to"), rows: [] });
    });
    expect(await screen.findByText("Aucune consommation sur cette période.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Du"), { target: { value: "2026-01-01" } });
    fireEvent.change(screen.getByLabelText("Au (inclus)"), { target: { value: "2026-01-31" } });
    fireEvent.click(screen.getByRole("button", { name: "Afficher" }));
    await waitFor(() => expect(sent.at(-1)?.path).toBe("/v1/me/usage?from=2026-01-01&to=2026-01-31"));
  });

  it("shows the totals of real rows", async () => {
    renderWithApi(<UsagePage />, (_m, path) => path === "/v1/me/limits" ? json(200, limits) : json(200, { from: "2026-01-01", to: "2026-01-02", rows: [{ ...row, day: "2026-01-02" }] }));
    expect((await screen.findByTestId("usage-totals")).textContent).toBe("Sur la période : 2 requête(s), 15 jeton(s), 0 s d'audio.");
    expect(screen.getByTestId("chart-usage")).toBeTruthy();
  });

  it("shows the tenant's limits read-only and the day's token budget on the tokens chart", async () => {
    renderWithApi(<UsagePage />, (_m, path) => path === "/v1/me/limits" ? json(200, limits) : json(200, { from: "2026-01-01", to: "2026-01-02", rows: [{ ...row, day: "2026-01-02" }] }));
    expect((await screen.findByTestId("my-limits-applies")).textContent).toBe("Le réglage par défaut du système s'applique.");
    expect(screen.getByTestId("my-limits-rates").textContent).toBe("Messages par minute : 30 ; anti-flood (messages par minute d'un même client) : pas de limite.");
    fireEvent.change(screen.getByLabelText("Mesure"), { target: { value: "tokens" } });
    expect(screen.getByRole("heading", { name: "Jetons" })).toBeTruthy();
  });
});

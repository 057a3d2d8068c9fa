import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { GroqKeyOut } from "../api/endpoints";
import { json, renderWithApi } from "../test/api";
import { GroqKeysPage, modelOptions, pickerKey } from "./GroqKeys";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const KEY_ID = "11111111-2222-3333-4444-555555555555";
const key: GroqKeyOut = {
  key_id: KEY_ID,
  label: "main",
  organization: "org-a",
  priority: 0,
  enabled: true,
  api_key_hint: "gsk_…abcd",
  status: "unchecked",
  status_detail: "Groq did not answer (timeout)",
  checked_at: null,
  updated_at: "2026-01-01T00:00:00Z",
};
const pool = { keys: [key], model: "openai/gpt-oss-120b", fallback_model: null, cheaper_model: null, unavailable_models: [], model_status: "" };

describe("GroqKeysPage", () => {
  it("shows each key's status and last error, never a secret, and the model state", async () => {
    renderWithApi(<GroqKeysPage />, (_method, path) =>
      path.endsWith("/models")
        ? json(200, { key_id: KEY_ID, models: ["b-model", "a-model"] })
        : json(200, { ...pool, unavailable_models: ["old-model"], model_status: "Your model old-model was retired; the fallback answers." }),
    );
    expect(await screen.findByText("non vérifiée")).toBeTruthy();
    expect(screen.getByText(/Groq did not answer/)).toBeTruthy();
    expect(screen.getByText("gsk_…abcd")).toBeTruthy();
    expect(screen.getByTestId("model-status").textContent).toContain("was retired");
    expect(screen.getByText("Modèles indisponibles : old-model")).toBeTruthy();
  });

  it("checks a new key before sending it, sends it once, then forgets it", async () => {
    let keys = [key];
    const sent = renderWithApi(<GroqKeysPage />, (method, path) => {
      if (path.endsWith("/models")) return json(200, { key_id: KEY_ID, models: ["a-model"] });
      if (method === "POST") {
        keys = [...keys, { ...key, key_id: "66666666-2222-3333-4444-555555555555", label: "second", api_key_hint: "gsk_…wxyz", status: "active" as const, status_detail: "" }];
        return json(201, keys[1]);
      }
      return json(200, { ...pool, keys });
    });
    const form = await screen.findByRole("form", { name: "Ajouter une clé" });
    fireEvent.change(within(form).getByLabelText("Clé API Groq (gsk_…)"), { target: { value: "sk-wrong" } });
    fireEvent.change(within(form).getByLabelText("Priorité (0 à 1000, la plus basse d'abord)"), { target: { value: "1.5" } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect(await within(form).findByText(/« gsk_ » suivi de lettres/)).toBeTruthy();
    expect(within(form).getByText("Un nombre entier entre 0 et 1000.")).toBeTruthy();
    expect(sent.filter((s) => s.method === "POST")).toEqual([]);

    const secret = "gsk_browser_0123456789abcdefwxyz";
    fireEvent.change(within(form).getByLabelText("Clé API Groq (gsk_…)"), { target: { value: secret } });
    fireEvent.change(within(form).getByLabelText("Priorité (0 à 1000, la plus basse d'abord)"), { target: { value: "5" } });
    fireEvent.change(within(form).getByLabelText("Nom"), { target: { value: "second" } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect(await screen.findByText("gsk_…wxyz")).toBeTruthy();
    const posted = sent.filter((s) => s.method === "POST");
    expect(posted).toHaveLength(1);
    expect(JSON.parse(posted[0]!.body)).toEqual({ api_key: secret, label: "second", organization: null, priority: 5, enabled: true });
    expect((within(form).getByLabelText("Clé API Groq (gsk_…)") as HTMLInputElement).value).toBe("");
  });

  it("shows the API's refusal text", async () => {
    renderWithApi(<GroqKeysPage />, (method, path) => {
      if (method === "POST") return json(422, { detail: "Groq refused this key (401): check it at console.groq.com/keys; nothing was stored" });
      if (path.endsWith("/models")) return json(200, { key_id: KEY_ID, models: [] });
      return json(200, pool);
    });
    const form = await screen.findByRole("form", { name: "Ajouter une clé" });
    fireEvent.change(within(form).getByLabelText("Clé API Groq (gsk_…)"), { target: { value: "gsk_refused_0123456789abcdef" } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect((await within(form).findByRole("alert")).textContent).toContain("Groq refused this key (401)");
  });

  it("picks the fallback model from the models the key can use", async () => {
    const sent = renderWithApi(<GroqKeysPage />, (method, path, body) => {
      if (path.endsWith("/models")) return json(200, { key_id: KEY_ID, models: ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"] });
      if (method === "PUT") return json(200, { ...pool, ...JSON.parse(body) });
      return json(200, pool);
    });
    const select = (await screen.findByRole("combobox", { name: "Modèle de repli (si votre modèle est retiré)" })) as HTMLSelectElement;
    await waitFor(() => expect([...select.options].map((o) => o.value)).toEqual(["", "llama-3.1-8b-instant", "llama-3.3-70b-versatile"]));
    fireEvent.change(select, { target: { value: "llama-3.1-8b-instant" } });
    fireEvent.click(within(screen.getByRole("form", { name: "Modèles de secours" })).getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(sent.some((s) => s.method === "PUT")).toBe(true));
    expect(JSON.parse(sent.find((s) => s.method === "PUT")!.body)).toEqual({ fallback_model: "llama-3.1-8b-instant", cheaper_model: null });
  });

  it("edits a key without sending a secret unless a new one is typed", async () => {
    const sent = renderWithApi(<GroqKeysPage />, (method, path, body) => {
      if (path.endsWith("/models")) return json(200, { key_id: KEY_ID, models: [] });
      if (method === "PATCH") return json(200, { ...key, ...JSON.parse(body) });
      return json(200, pool);
    });
    fireEvent.click(await screen.findByRole("button", { name: "Modifier : main" }));
    const form = screen.getByRole("form", { name: "Modifier la clé" });
    expect(within(form).getByText(/Clé actuelle : gsk_…abcd/)).toBeTruthy();
    fireEvent.change(within(form).getByLabelText("Organisation Groq"), { target: { value: "" } });
    fireEvent.click(within(form).getByLabelText("Clé activée"));
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(sent.some((s) => s.method === "PATCH")).toBe(true));
    const patch = sent.find((s) => s.method === "PATCH")!;
    expect(patch.path).toBe(`/v1/me/groq-keys/${KEY_ID}`);
    expect(JSON.parse(patch.body)).toEqual({ label: "main", organization: null, priority: 0, enabled: false });
    expect(await screen.findByRole("form", { name: "Ajouter une clé" })).toBeTruthy();
  });

  it("asks before deleting a key", async () => {
    let keys = [key];
    const sent = renderWithApi(<GroqKeysPage />, (method, path) => {
      if (method === "DELETE") {
        keys = [];
        return json(204, null);
      }
      if (path.endsWith("/models")) return json(200, { key_id: KEY_ID, models: [] });
      return json(200, { ...pool, keys });
    });
    fireEvent.click(await screen.findByRole("button", { name: "Supprimer : main" }));
    expect(sent.some((s) => s.method === "DELETE")).toBe(false);
    fireEvent.click(screen.getByRole("button", { name: "Confirmer" }));
    expect(await screen.findByText(/Aucune clé dans la réserve/)).toBeTruthy();
    expect(sent.find((s) => s.method === "DELETE")?.path).toBe(`/v1/me/groq-keys/${KEY_ID}`);
  });
});

describe("model picker helpers", () => {
  it("keeps a saved model the list lacks, and offers 'none' when asked", () => {
    expect(modelOptions(["a"], "old", "—").map((o) => o.value)).toEqual(["", "old", "a"]);
    expect(modelOptions(["a"], "a").map((o) => o.value)).toEqual(["a"]);
  });

  it("feeds the picker from an enabled key Groq has not refused", () => {
    expect(pickerKey([{ ...key, status: "invalid" }, { ...key, key_id: "x", enabled: false }])).toBeNull();
    expect(pickerKey([{ ...key, status: "invalid" }, { ...key, key_id: "y" }])?.key_id).toBe("y");
  });
});

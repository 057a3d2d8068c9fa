import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { json, renderWithApi } from "../test/api";
import { SettingsPage } from "./Settings";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const conversation = {
  turn_quiet_ms: 2000,
  turn_max_ms: 8000,
  typing_indicator: true,
  read_receipts: true,
  human_expiry_s: 43200,
  handoff_phrases: [],
  reengagement_template: null,
  template_language: "fr",
  updated_at: null,
};
const media = {
  transcription_model: "whisper-large-v3-turbo",
  language_hint: null,
  vision_model: null,
  text_language: "fr",
  polite_texts: { image: "Merci pour l'image !" },
  document_text_limit: 20000,
  updated_at: null,
};

const noKeys = { keys: [], model: "m", fallback_model: null, cheaper_model: null, unavailable_models: [], model_status: "" };

function api() {
  return renderWithApi(<SettingsPage />, (method, path, body) => {
    if (path.endsWith("/groq-keys")) return json(200, noKeys);
    const saved = path.endsWith("conversation-settings") ? conversation : media;
    return method === "PUT" ? json(200, { ...saved, ...JSON.parse(body), updated_at: "2026-01-01T00:00:00Z" }) : json(200, saved);
  });
}

describe("SettingsPage", () => {
  it("refuses a turn window the API would refuse, then sends the whole set", async () => {
    const sent = api();
    const form = await screen.findByRole("form", { name: "Réglages des conversations" });
    const field = (label: string) => within(form).getByLabelText(label);
    fireEvent.change(field("Silence avant de répondre (ms, 0 à 60000)"), { target: { value: "5000" } });
    fireEvent.change(field("Attente maximale (ms, 0 à 120000)"), { target: { value: "3000" } });
    fireEvent.change(field("Modèle WhatsApp de relance (facultatif)"), { target: { value: "Relance Client" } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect(await within(form).findByText("L'attente maximale ne peut pas être plus courte que le silence.")).toBeTruthy();
    expect(within(form).getByText("Lettres minuscules, chiffres et « _ » seulement.")).toBeTruthy();
    expect(sent.some((s) => s.method === "PUT")).toBe(false);

    fireEvent.change(field("Attente maximale (ms, 0 à 120000)"), { target: { value: "9000" } });
    fireEvent.change(field("Modèle WhatsApp de relance (facultatif)"), { target: { value: "relance_client" } });
    fireEvent.change(field("Phrases de demande d'un humain (une par ligne)"), { target: { value: "un conseiller\n\n  parler à quelqu'un \n" } });
    fireEvent.change(field("Reprise par le bot après une intervention humaine ou une pause (minutes)"), { target: { value: "30" } });
    fireEvent.click(field("Afficher « en train d'écrire »"));
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect(await within(form).findByText("Enregistré.")).toBeTruthy();
    expect(JSON.parse(sent.find((s) => s.method === "PUT")!.body)).toEqual({
      turn_quiet_ms: 5000,
      turn_max_ms: 9000,
      typing_indicator: false,
      read_receipts: true,
      human_expiry_s: 1800,
      handoff_phrases: ["un conseiller", "parler à quelqu'un"],
      reengagement_template: "relance_client",
      template_language: "fr",
    });
  });

  it("sends the media settings with only the polite texts that were written", async () => {
    const sent = api();
    const form = await screen.findByRole("form", { name: "Réglages des médias" });
    expect((within(form).getByLabelText("Image") as HTMLTextAreaElement).value).toBe("Merci pour l'image !");
    fireEvent.change(within(form).getByLabelText("Langue parlée (code à 2 lettres, facultatif)"), { target: { value: "FR" } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect(await within(form).findByText("Deux lettres minuscules, par ex. fr.")).toBeTruthy();
    fireEvent.change(within(form).getByLabelText("Langue parlée (code à 2 lettres, facultatif)"), { target: { value: "fr" } });
    fireEvent.change(within(form).getByLabelText("Modèle de vision pour les images (facultatif)"), { target: { value: "meta-llama/llama-4-scout-17b-16e-instruct" } });
    fireEvent.change(within(form).getByLabelText("Note vocale"), { target: { value: "Je ne peux pas écouter ce message." } });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(sent.some((s) => s.method === "PUT")).toBe(true));
    expect(JSON.parse(sent.find((s) => s.method === "PUT")!.body)).toEqual({
      transcription_model: "whisper-large-v3-turbo",
      language_hint: "fr",
      vision_model: "meta-llama/llama-4-scout-17b-16e-instruct",
      text_language: "fr",
      document_text_limit: 20000,
      polite_texts: { audio: "Je ne peux pas écouter ce message.", image: "Merci pour l'image !" },
    });
  });

  it("shows the API's error text", async () => {
    renderWithApi(<SettingsPage />, (method, path) => {
      if (path.endsWith("/groq-keys")) return json(200, noKeys);
      if (method === "PUT") return json(422, { detail: [{ loc: ["body", "template_language"], msg: "String should match pattern" }] });
      return json(200, path.endsWith("conversation-settings") ? conversation : media);
    });
    const form = await screen.findByRole("form", { name: "Réglages des conversations" });
    fireEvent.click(within(form).getByRole("button", { name: "Enregistrer" }));
    expect((await within(form).findByRole("alert")).textContent).toBe("template_language: String should match pattern");
  });

  it("picks the vision model from the list a pool key gives, or none", async () => {
    const key = { key_id: "k1", label: "", organization: null, priority: 0, enabled: true, api_key_hint: "gsk_…abcd", status: "active", status_detail: "", checked_at: null, updated_at: "2026-01-01T00:00:00Z" };
    const sent = renderWithApi(<SettingsPage />, (method, path, body) => {
      if (path.endsWith("/groq-keys")) return json(200, { ...noKeys, keys: [key] });
      if (path.endsWith("/models")) return json(200, { key_id: "k1", models: ["whisper-large-v3-turbo", "meta-llama/llama-4-scout-17b-16e-instruct"] });
      return method === "PUT" ? json(200, { ...media, ...JSON.parse(body) }) : json(200, path.endsWith("conversation-settings") ? conversation : media);
    });
    const vision = (await screen.findByRole("combobox", { name: "Modèle de vision pour les images (facultatif)" })) as HTMLSelectElement;
    expect(vision.value).toBe("");
    expect(vision.options[0]!.textContent).toBe("— aucun (texte poli) —");
    fireEvent.change(vision, { target: { value: "meta-llama/llama-4-scout-17b-16e-instruct" } });
    fireEvent.click(within(screen.getByRole("form", { name: "Réglages des médias" })).getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(sent.some((s) => s.method === "PUT")).toBe(true));
    expect(JSON.parse(sent.find((s) => s.method === "PUT")!.body).vision_model).toBe("meta-llama/llama-4-scout-17b-16e-instruct");
  });
});

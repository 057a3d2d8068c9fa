import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { GroqForm } from "./Groq";

afterEach(cleanup);

const saved = { model: "llama-3.1-8b-instant", temperature: 0.3, api_key_hint: "gsk_…abcd", updated_at: "2026-01-01T00:00:00Z" };

describe("GroqForm", () => {
  it("shows the hint, never asks the API when the form is wrong, and sends a valid form", async () => {
    const save = vi.fn(async () => ({ ...saved, api_key_hint: "gsk_…wxyz" }));
    render(<GroqForm title="groq.title" load={async () => saved} save={save} />);
    expect(await screen.findByText("Clé enregistrée : gsk_…abcd")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Température (0 à 2)"), { target: { value: "5" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    expect(await screen.findByText("Obligatoire.")).toBeTruthy();
    expect(screen.getByText("Un nombre entre 0 et 2.")).toBeTruthy();
    expect(save).not.toHaveBeenCalled();

    fireEvent.change(screen.getByLabelText("Clé API Groq"), { target: { value: "gsk_new_wxyz" } });
    fireEvent.change(screen.getByLabelText("Température (0 à 2)"), { target: { value: "0.5" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(save).toHaveBeenCalledWith({ api_key: "gsk_new_wxyz", model: saved.model, temperature: 0.5 }));
    expect(await screen.findByText("Clé enregistrée : gsk_…wxyz")).toBeTruthy();
    expect((screen.getByLabelText("Clé API Groq") as HTMLInputElement).value).toBe("");
  });

  it("shows the API's error text", async () => {
    const save = vi.fn(async () => { throw new ApiError(422, "model: String should have at least 1 character"); });
    render(<GroqForm title="groq.title" load={async () => null} save={save} emptyText="groq.noConfig" />);
    expect(await screen.findByText(/Aucune configuration Groq/)).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Clé API Groq"), { target: { value: "gsk_x" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    expect(await screen.findByRole("alert")).toHaveProperty("textContent", "model: String should have at least 1 character");
  });

  it("offers the models a pool key can use instead of free text, keeping the saved one", async () => {
    const save = vi.fn(async () => ({ ...saved, model: "llama-3.3-70b-versatile" }));
    render(<GroqForm title="groq.title" load={async () => saved} save={save} models={{ state: "ready", models: ["llama-3.3-70b-versatile"] }} />);
    const picker = (await screen.findByRole("combobox", { name: "Modèle" })) as HTMLSelectElement;
    expect([...picker.options].map((o) => o.value)).toEqual(["llama-3.1-8b-instant", "llama-3.3-70b-versatile"]);
    fireEvent.change(picker, { target: { value: "llama-3.3-70b-versatile" } });
    fireEvent.change(screen.getByLabelText("Clé API Groq"), { target: { value: "gsk_new_wxyz" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(save).toHaveBeenCalledWith({ api_key: "gsk_new_wxyz", model: "llama-3.3-70b-versatile", temperature: 0.3 }));
  });
});

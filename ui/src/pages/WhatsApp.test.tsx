import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeClient } from "../api/client";
import { Session } from "../context";
import { WhatsAppPage } from "./WhatsApp";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const saved = {
  phone_number_id: "PN1",
  display_phone_number: "+33612345678",
  is_active: true,
  access_token_hint: "…abcd",
  app_secret_set: true,
  verify_token_set: false,
  updated_at: "2026-01-01T00:00:00Z",
};

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function renderPage(answers: (request: Request) => Response) {
  const sent: { method: string; body: string }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      sent.push({ method: request.method, body: request.method === "PUT" ? await request.clone().text() : "" });
      return answers(request);
    }),
  );
  const client = makeClient("tok", () => {}, "http://config");
  const session = { token: "tok", role: "authenticated" as const, sub: "u", exp: 0 };
  render(
    <Session.Provider value={{ client, session, gatewayUrl: "https://gw.example" }}>
      <WhatsAppPage />
    </Session.Provider>,
  );
  return sent;
}

describe("WhatsAppPage", () => {
  it("shows hints and the Meta values, and asks again for a secret that is set", async () => {
    const sent = renderPage((request) => (request.method === "GET" ? json(200, saved) : json(200, saved)));
    expect(await screen.findByText("Enregistré : …abcd")).toBeTruthy();
    expect(screen.getByText("défini")).toBeTruthy();
    expect(screen.getByText("non défini")).toBeTruthy();
    expect(screen.getByTestId("webhook-url").textContent).toBe("https://gw.example/webhooks/whatsapp");

    fireEvent.change(screen.getByLabelText("Jeton d'accès"), { target: { value: "EAAnew" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    expect(await screen.findByText(/Déjà défini/)).toBeTruthy();
    expect(sent.filter((r) => r.method === "PUT")).toEqual([]);

    fireEvent.change(screen.getByLabelText("Secret de l'application (facultatif)"), { target: { value: "s3cret" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    await waitFor(() => expect(sent.filter((r) => r.method === "PUT")).toHaveLength(1));
    const body = JSON.parse(sent.find((r) => r.method === "PUT")?.body ?? "{}");
    expect(body).toMatchObject({ phone_number_id: "PN1", access_token: "EAAnew", app_secret: "s3cret", verify_token: null });
    expect(await screen.findByText("Enregistré.")).toBeTruthy();
    // Sent secrets leave the form.
    expect((screen.getByLabelText("Jeton d'accès") as HTMLInputElement).value).toBe("");
  });

  it("shows the API's conflict text", async () => {
    renderPage((request) =>
      request.method === "GET"
        ? json(404, { detail: "no WhatsApp configuration configured" })
        : json(409, { detail: "this phone number (or phone number id) is already active for another account" }),
    );
    fireEvent.change(await screen.findByLabelText("Identifiant du numéro (phone number id)"), { target: { value: "PN2" } });
    fireEvent.change(screen.getByLabelText("Numéro affiché (format E.164, ex. +33612345678)"), { target: { value: "+33612345678" } });
    fireEvent.change(screen.getByLabelText("Jeton d'accès"), { target: { value: "EAAx" } });
    fireEvent.click(screen.getByRole("button", { name: "Enregistrer" }));
    expect((await screen.findByRole("alert")).textContent).toContain("already active for another account");
  });
});

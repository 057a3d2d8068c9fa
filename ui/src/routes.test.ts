import { describe, expect, it } from "vitest";
import { dictionaries } from "./i18n";
import { resolve, routesFor } from "./routes";

describe("routes", () => {
  it("offers each role only its own pages", () => {
    expect(routesFor("authenticated").every((r) => !r.path.startsWith("/admin"))).toBe(true);
    expect(routesFor("service_role").every((r) => r.path.startsWith("/admin"))).toBe(true);
  });

  it("falls back to the role's first page", () => {
    expect(resolve("#/groq", "authenticated").path).toBe("/groq");
    expect(resolve("#/admin/system", "authenticated").path).toBe("/whatsapp");
    expect(resolve("", "service_role").path).toBe("/admin/system");
  });
});

describe("texts", () => {
  it("English has every French text, and none is empty", () => {
    expect(Object.keys(dictionaries.en).sort()).toEqual(Object.keys(dictionaries.fr).sort());
    for (const dictionary of Object.values(dictionaries)) {
      expect(Object.values(dictionary).filter((text) => !text.trim())).toEqual([]);
    }
  });
});

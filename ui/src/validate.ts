// Checks run before sending, mirroring the API's own rules (services/config/api/schemas.py);
// the API stays the judge and its error text is shown when it refuses.
import type { TextKey } from "./i18n";

export type Check = (value: string) => TextKey | null;

export const required: Check = (value) => (value.trim() ? null : "app.required");

export const e164: Check = (value) =>
  /^\+[1-9][0-9]{6,14}$/.test(value.replace(/[\s().-]/g, "")) ? null : "whatsapp.e164";

export const phoneNumberId: Check = (value) =>
  /^[0-9A-Za-z_-]{1,64}$/.test(value.trim()) ? null : "whatsapp.phoneNumberIdInvalid";

export const twilioSid: Check = (value) =>
  /^AC[0-9a-fA-F]{32}$/.test(value.trim()) ? null : "twilio.sidInvalid";

export const temperature: Check = (value) => {
  const number = Number(value);
  return value.trim() !== "" && Number.isFinite(number) && number >= 0 && number <= 2
    ? null
    : "groq.temperatureInvalid";
};

export const httpUrl: Check = (value) => {
  try {
    const url = new URL(value.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? null : "links.urlInvalid";
  } catch {
    return "links.urlInvalid";
  }
};

export const optional =
  (check: Check): Check =>
  (value) =>
    value.trim() ? check(value) : null;

/** The first problem of each field, only for fields that have one. */
export function validate<F extends string>(
  values: Record<F, string>,
  checks: Partial<Record<F, Check[]>>,
): Partial<Record<F, TextKey>> {
  const problems: Partial<Record<F, TextKey>> = {};
  for (const field of Object.keys(checks) as F[]) {
    for (const check of checks[field] ?? []) {
      const problem = check(values[field]);
      if (problem) {
        problems[field] = problem;
        break;
      }
    }
  }
  return problems;
}

/** A random verify token for Meta's webhook subscription (URL-safe, 32 characters). */
export function randomToken(bytes = 24): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** A Groq API key as the API takes it: `gsk_` then letters, digits, `_` or `-`, 20 to 200 long. */
export const groqKey: Check = (value) => {
  const key = value.trim();
  return /^gsk_[A-Za-z0-9_-]+$/.test(key) && key.length >= 20 && key.length <= 200 ? null : "keys.keyInvalid";
};

/** A whole number between `min` and `max` included. */
export const integerIn =
  (min: number, max: number, problem: TextKey): Check =>
  (value) => {
    const number = Number(value);
    return value.trim() !== "" && Number.isInteger(number) && number >= min && number <= max ? null : problem;
  };

export const matches =
  (pattern: RegExp, problem: TextKey): Check =>
  (value) =>
    pattern.test(value.trim()) ? null : problem;

export const maxLength =
  (length: number): Check =>
  (value) =>
    value.trim().length <= length ? null : "app.tooLong";

/** The non-empty lines of a text box, trimmed. */
export function lines(value: string): string[] {
  return value.split("\n").map((line) => line.trim()).filter(Boolean);
}

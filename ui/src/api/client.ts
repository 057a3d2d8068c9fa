// The config API client: typed by the generated OpenAPI schema (schema.d.ts). Every call
// goes through `call`, which turns an answer into data or an ApiError with the API's text.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The API's error text: `detail` is a string, or a 422's list of {loc, msg}. */
export function errorText(status: number, body: unknown): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item: { loc?: unknown[]; msg?: string }) => {
        const where = (item.loc ?? []).filter((part) => part !== "body").join(".");
        return where ? `${where}: ${item.msg ?? ""}` : (item.msg ?? "");
      })
      .join("; ");
  }
  return `HTTP ${status}`;
}

export type Unauthorized = () => void;

export function makeClient(token: string, onUnauthorized: Unauthorized, baseUrl = "") {
  const client = createClient<paths>({ baseUrl });
  const auth: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  };
  client.use(auth);
  return client;
}

export type ConfigClient = ReturnType<typeof makeClient>;

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Data, or null for "nothing configured" (404) when allowed; an ApiError otherwise. */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch {
    throw new ApiError(0, "network");
  }
  const { data, error, response } = answer;
  if (!response.ok) throw new ApiError(response.status, errorText(response.status, error));
  return data as T;
}

export async function callOrNull<T>(request: Promise<Answer<T>>): Promise<T | null> {
  try {
    return await call(request);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

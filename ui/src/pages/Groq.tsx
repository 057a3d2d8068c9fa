import { useState } from "react";
import type { GroqIn, GroqOut } from "../api/endpoints";
import { Field, Loading, StatusLine, type Status } from "../components/ui";
import { useErrorText, useLoad } from "../components/hooks";
import { useT, type TextKey } from "../i18n";
import { required, temperature, validate } from "../validate";
import { ModelField, type Models } from "./GroqKeys";

// The API's default model (shared/groq_models.py), the start value when nothing is saved.
export const DEFAULT_MODEL = "openai/gpt-oss-120b";

type Fields = "api_key" | "model" | "temperature";

/** One Groq settings form, for a tenant (/v1/me) or the system fallback (/v1/system). */
export function GroqForm({ load, save, title, emptyText, models = { state: "none" } }: {
  load: () => Promise<GroqOut | null>;
  save: (body: GroqIn) => Promise<GroqOut>;
  title: TextKey;
  emptyText?: TextKey;
  /** The models a pool key can use: a picker instead of the free-text field when ready. */
  models?: Models;
}) {
  const t = useT();
  const errorText = useErrorText();
  const [loaded, , setLoaded] = useLoad(load);
  const [values, setValues] = useState<Record<Fields, string> | null>(null);
  const [problems, setProblems] = useState<Partial<Record<Fields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  if (loaded.state === "loading") return <Loading />;
  if (loaded.state === "error") return <p role="alert" className="status error">{loaded.error}</p>;
  const saved = loaded.data;
  const current = values ?? {
    api_key: "",
    model: saved?.model ?? DEFAULT_MODEL,
    temperature: String(saved?.temperature ?? 0.7),
  };
  const set = (field: Fields) => (value: string) => setValues({ ...current, [field]: value });

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(current, {
      api_key: [required],
      model: [required],
      temperature: [required, temperature],
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      const answer = await save({
        api_key: current.api_key.trim(),
        model: current.model.trim(),
        temperature: Number(current.temperature),
      });
      setValues({ ...current, api_key: "" });
      setLoaded(answer);
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t(title)}>
      {!saved && emptyText && <p className="notice">{t(emptyText)}</p>}
      <Field name="api_key" type="password" label="groq.apiKey" value={current.api_key} onChange={set("api_key")} error={problems.api_key}
        help={saved ? t("groq.keyHint", { hint: saved.api_key_hint }) : t("app.keepSecret")} />
      <ModelField name="model" label="groq.model" models={models} value={current.model} onChange={set("model")} error={problems.model} />
      <Field name="temperature" type="number" step="0.1" label="groq.temperature" value={current.temperature} onChange={set("temperature")} error={problems.temperature} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

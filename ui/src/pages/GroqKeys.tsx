// The tenant's Groq key pool: its keys (status, last error, hint), adding, editing and
// deleting a key (the secret is write-only), and the pool's fallback and cheaper models
// picked from the models a key can use.
import { useContext, useEffect, useState } from "react";
import { api, type GroqKeyOut, type GroqKeyPool } from "../api/endpoints";
import type { ConfigClient } from "../api/client";
import { Checkbox, Field, Loading, Select, StatusLine, when, type Option, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { I18n, useT, type TextKey } from "../i18n";
import { groqKey, integerIn, maxLength, optional, validate } from "../validate";

/** The key whose model list feeds the pickers: the first enabled key Groq has not refused. */
export function pickerKey(keys: GroqKeyOut[]): GroqKeyOut | null {
  return keys.find((key) => key.enabled && key.status !== "invalid") ?? null;
}

export type Models = { state: "none" } | { state: "loading" } | { state: "ready"; models: string[] } | { state: "error"; error: string };

/** The models the pool's picker key can use; "none" without a usable key. */
export function useModels(client: ConfigClient, keyId: string | null): Models {
  const errorText = useErrorText();
  const [models, setModels] = useState<Models>({ state: keyId ? "loading" : "none" });
  useEffect(() => {
    let live = true;
    if (!keyId) {
      setModels({ state: "none" });
      return;
    }
    setModels({ state: "loading" });
    api.groqKeyModels(client, keyId).then(
      (answer) => live && setModels({ state: "ready", models: [...answer.models].sort() }),
      (error: unknown) => live && setModels({ state: "error", error: errorText(error) }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, keyId]);
  return models;
}

/** The picker's options: the listed models, plus the saved value when the list lacks it. */
export function modelOptions(models: string[], current: string, none?: string): Option[] {
  const names = current && !models.includes(current) ? [current, ...models] : models;
  return [...(none === undefined ? [] : [{ value: "", label: none }]), ...names.map((name) => ({ value: name, label: name }))];
}

export function GroqKeysPage() {
  const t = useT();
  const client = useClient();
  const [pool, , setPool] = useLoad(() => api.groqKeys(client));
  const [editing, setEditing] = useState<GroqKeyOut | null>(null);
  if (pool.state === "loading") return <Loading />;
  if (pool.state === "error") return <p role="alert" className="status error">{pool.error}</p>;
  const data = pool.data;
  const refresh = async () => setPool(await api.groqKeys(client));
  return (
    <>
      <h1>{t("keys.title")}</h1>
      <p>{t("keys.intro")}</p>
      <ModelState pool={data} />
      <section aria-labelledby="key-pool" className="card">
        <h2 id="key-pool">{t("keys.pool")}</h2>
        <KeyList keys={data.keys} onEdit={setEditing} onDeleted={refresh} />
      </section>
      {editing ? (
        <KeyForm key={editing.key_id} editing={editing} onDone={async () => { setEditing(null); await refresh(); }} onCancel={() => setEditing(null)} />
      ) : (
        data.keys.length < 10 && <KeyForm key="new" editing={null} onDone={refresh} />
      )}
      <PoolSettingsForm pool={data} onSaved={setPool} />
    </>
  );
}

function ModelState({ pool }: { pool: GroqKeyPool }) {
  const t = useT();
  return (
    <section aria-labelledby="model-state" className="card">
      <h2 id="model-state">{t("keys.modelState")}</h2>
      <p>{t("keys.currentModel", { model: pool.model })}</p>
      {pool.model_status ? (
        <p className="warning" data-testid="model-status" role="status">{pool.model_status}</p>
      ) : (
        <p className="ok" data-testid="model-status">{t("keys.modelOk")}</p>
      )}
      {pool.unavailable_models.length > 0 && <p>{t("keys.unavailable", { models: pool.unavailable_models.join(", ") })}</p>}
    </section>
  );
}

const STATUS_TEXT: Record<GroqKeyOut["status"], TextKey> = {
  active: "keys.active",
  unchecked: "keys.unchecked",
  invalid: "keys.invalid",
};

function KeyList({ keys, onEdit, onDeleted }: { keys: GroqKeyOut[]; onEdit: (key: GroqKeyOut) => void; onDeleted: () => Promise<void> }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const { language } = useContext(I18n);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [status, setStatus] = useState<Status>({ kind: "idle" });

  async function remove(key: GroqKeyOut) {
    setStatus({ kind: "busy" });
    try {
      await api.deleteGroqKey(client, key.key_id);
      setConfirming(null);
      await onDeleted();
      setStatus({ kind: "ok", text: "app.deleted" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  // One card per key rather than an eight-column table: it reads the same on a phone.
  return (
    <>
      {keys.length === 0 && <p className="notice">{t("keys.none")}</p>}
      <ul className="key-list">
        {keys.map((key) => {
          const name = key.label || key.api_key_hint;
          return (
            <li key={key.key_id} className="key" data-testid={`key-${key.key_id}`} aria-labelledby={`key-name-${key.key_id}`}>
              <h3 id={`key-name-${key.key_id}`}>{name}</h3>
              <dl>
                <dt>{t("keys.hint")}</dt>
                <dd><code>{key.api_key_hint}</code></dd>
                <dt>{t("keys.status")}</dt>
                <dd data-testid={`key-status-${key.key_id}`} className={key.status === "invalid" ? "warning" : undefined}>
                  {t(STATUS_TEXT[key.status])}
                  {key.status_detail && <small className="help"> — {key.status_detail}</small>}
                </dd>
                <dt>{t("keys.organization")}</dt>
                <dd>{key.organization ?? "—"}</dd>
                <dt>{t("keys.priority")}</dt>
                <dd>{key.priority}</dd>
                <dt>{t("keys.enabled")}</dt>
                <dd>{key.enabled ? t("app.yes") : t("app.no")}</dd>
                <dt>{t("keys.checked")}</dt>
                <dd>{when(key.checked_at, language)}</dd>
              </dl>
              {confirming === key.key_id ? (
                <div role="alertdialog" aria-labelledby={`confirm-${key.key_id}`} className="confirm">
                  <p id={`confirm-${key.key_id}`}>{t("keys.confirmDelete", { label: name })}</p>
                  <button type="button" className="danger" onClick={() => remove(key)}>{t("app.confirm")}</button>
                  <button type="button" className="secondary" onClick={() => setConfirming(null)}>{t("app.cancel")}</button>
                </div>
              ) : (
                <div>
                  <button type="button" className="secondary" aria-label={`${t("keys.edit")} : ${name}`} onClick={() => onEdit(key)}>{t("keys.edit")}</button>
                  <button type="button" className="danger" aria-label={`${t("app.delete")} : ${name}`} onClick={() => setConfirming(key.key_id)}>{t("app.delete")}</button>
                </div>
              )}
            </li>
          );
        })}
      </ul>
      <StatusLine status={status} />
    </>
  );
}

type KeyFields = "api_key" | "label" | "organization" | "priority";

/** Adds a key (`editing` null) or changes one; the secret is sent only when typed. */
export function KeyForm({ editing, onDone, onCancel }: { editing: GroqKeyOut | null; onDone: () => Promise<void>; onCancel?: () => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [values, setValues] = useState<Record<KeyFields, string>>({
    api_key: "",
    label: editing?.label ?? "",
    organization: editing?.organization ?? "",
    priority: String(editing?.priority ?? 0),
  });
  const [enabled, setEnabled] = useState(editing?.enabled ?? true);
  const [problems, setProblems] = useState<Partial<Record<KeyFields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: KeyFields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));
  const title: TextKey = editing ? "keys.editTitle" : "keys.add";

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      api_key: editing ? [optional(groqKey)] : [groqKey],
      label: [maxLength(100)],
      organization: [maxLength(100)],
      priority: [integerIn(0, 1000, "keys.priorityInvalid")],
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    const common = {
      label: values.label.trim(),
      organization: values.organization.trim() || null,
      priority: Number(values.priority),
      enabled,
    };
    try {
      if (editing) {
        await api.patchGroqKey(client, editing.key_id, { ...common, ...(values.api_key.trim() ? { api_key: values.api_key.trim() } : {}) });
      } else {
        await api.addGroqKey(client, { ...common, api_key: values.api_key.trim() });
      }
      // The secret leaves the page's memory once sent: only the API's hint stays.
      setValues(editing ? (v) => ({ ...v, api_key: "" }) : { api_key: "", label: "", organization: "", priority: "0" });
      setStatus({ kind: "ok", text: "app.saved" });
      await onDone();
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t(title)} className="card">
      <h2>{t(title)}</h2>
      <Field name="api_key" type="password" label="keys.apiKey" value={values.api_key} onChange={set("api_key")} error={problems.api_key}
        help={editing ? t("keys.replaceHelp", { hint: editing.api_key_hint }) : t("keys.checkedHelp")} />
      <Field name="label" label="keys.label" value={values.label} onChange={set("label")} error={problems.label} />
      <Field name="organization" label="keys.organization" value={values.organization} onChange={set("organization")} error={problems.organization} help={t("keys.organizationHelp")} />
      <Field name="priority" type="number" step="1" label="keys.priorityField" value={values.priority} onChange={set("priority")} error={problems.priority} />
      <Checkbox name="enabled" label="keys.enabledField" checked={enabled} onChange={setEnabled} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>{" "}
      {onCancel && <button type="button" className="secondary" onClick={onCancel}>{t("app.cancel")}</button>}
      <StatusLine status={status} />
    </form>
  );
}

/** The fallback model (when the tenant's model is retired) and the cheaper one. */
function PoolSettingsForm({ pool, onSaved }: { pool: GroqKeyPool; onSaved: (pool: GroqKeyPool) => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const source = pickerKey(pool.keys);
  const models = useModels(client, source?.key_id ?? null);
  const [fallback, setFallback] = useState(pool.fallback_model ?? "");
  const [cheaper, setCheaper] = useState(pool.cheaper_model ?? "");
  const [problems, setProblems] = useState<Partial<Record<"fallback" | "cheaper", TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const modelName = optional(maxLength(200));
    const found = validate({ fallback, cheaper }, { fallback: [modelName], cheaper: [modelName] });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      onSaved(await api.putGroqPoolSettings(client, { fallback_model: fallback.trim() || null, cheaper_model: cheaper.trim() || null }));
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t("keys.poolSettings")} className="card">
      <h2>{t("keys.poolSettings")}</h2>
      <ModelsNote models={models} source={source} />
      <ModelField name="fallback_model" label="keys.fallback" models={models} value={fallback} onChange={setFallback} none={t("keys.systemDefault")} error={problems.fallback} />
      <ModelField name="cheaper_model" label="keys.cheaper" models={models} value={cheaper} onChange={setCheaper} none={t("keys.noCheaper")} error={problems.cheaper} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

export function ModelsNote({ models, source }: { models: Models; source: GroqKeyOut | null }) {
  const t = useT();
  if (models.state === "none") return <p className="help">{t("keys.noPicker")}</p>;
  if (models.state === "loading") return <Loading />;
  if (models.state === "error") return <p className="status error" role="alert">{models.error}</p>;
  return <p className="help">{t("keys.modelsFrom", { key: source?.label || source?.api_key_hint || "" })}</p>;
}

/** A model picked from the key's list, or typed when no list could be had. */
export function ModelField({ name, label, models, value, onChange, none, error, help }: {
  name: string;
  label: TextKey;
  models: Models;
  value: string;
  onChange: (value: string) => void;
  none?: string;
  error?: TextKey | undefined;
  help?: string;
}) {
  if (models.state === "ready") {
    return <Select name={name} label={label} value={value} onChange={onChange} options={modelOptions(models.models, value, none)} error={error} help={help} />;
  }
  return <Field name={name} label={label} value={value} onChange={onChange} error={error} help={help} />;
}

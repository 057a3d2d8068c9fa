// The tenant's smaller pages: Groq, webhook links, audit log, test message.
import { useContext, useState } from "react";
import { api, type AuditPage as AuditEntries, type LinksOut } from "../api/endpoints";
import { Checkbox, Field, Loading, StatusLine, Table, when, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { Session } from "../context";
import { sendTestMessage, type TestResult } from "../gateway";
import { I18n, useT, type TextKey } from "../i18n";
import { httpUrl, optional, required, validate } from "../validate";
import { GroqForm } from "./Groq";
import { pickerKey, useModels } from "./GroqKeys";
import { storeGatewayUrl } from "../auth";

export function GroqPage() {
  const t = useT();
  const client = useClient();
  // The model picker lists what the pool's first usable key can use; without one, free text.
  const [pool] = useLoad(() => api.groqKeys(client));
  const source = pool.state === "ready" ? pickerKey(pool.data.keys) : null;
  const models = useModels(client, source?.key_id ?? null);
  return (
    <>
      <h1>{t("groq.title")}</h1>
      <p>{t("groq.intro")}</p>
      {pool.state === "ready" && pool.data.model_status && <p className="warning" role="status">{pool.data.model_status}</p>}
      <GroqForm title="groq.title" emptyText="groq.noConfig" models={models} load={() => api.groq(client)} save={(body) => api.putGroq(client, body)} />
      {source && models.state === "ready" && <p className="help">{t("keys.modelsFrom", { key: source.label || source.api_key_hint })}</p>}
    </>
  );
}

export function LinksPage() {
  const t = useT();
  const client = useClient();
  const [loaded, , setLoaded] = useLoad(() => api.links(client));
  return (
    <>
      <h1>{t("links.title")}</h1>
      <p>{t("links.intro")}</p>
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <LinksForm saved={loaded.data} onSaved={setLoaded} />}
    </>
  );
}

type LinkFields = "webhook_url" | "groq_api_url";

function LinksForm({ saved, onSaved }: { saved: LinksOut; onSaved: (v: LinksOut) => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [values, setValues] = useState<Record<LinkFields, string>>({
    webhook_url: saved.webhook_url ?? "",
    groq_api_url: saved.groq_api_url ?? "",
  });
  const [webhookOn, setWebhookOn] = useState(saved.webhook_enabled);
  const [groqOn, setGroqOn] = useState(saved.groq_enabled);
  const [problems, setProblems] = useState<Partial<Record<LinkFields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: LinkFields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      webhook_url: webhookOn ? [required, httpUrl] : [optional(httpUrl)],
      groq_api_url: groqOn ? [required, httpUrl] : [optional(httpUrl)],
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      onSaved(
        await api.putLinks(client, {
          webhook_url: values.webhook_url.trim() || null,
          groq_api_url: values.groq_api_url.trim() || null,
          webhook_enabled: webhookOn,
          groq_enabled: groqOn,
        }),
      );
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t("links.title")}>
      <Field name="webhook_url" type="url" label="links.webhookUrl" value={values.webhook_url} onChange={set("webhook_url")} error={problems.webhook_url} />
      <Checkbox name="webhook_enabled" label="links.webhookEnabled" checked={webhookOn} onChange={setWebhookOn} />
      <Field name="groq_api_url" type="url" label="links.groqUrl" value={values.groq_api_url} onChange={set("groq_api_url")} error={problems.groq_api_url} />
      <Checkbox name="groq_enabled" label="links.groqEnabled" checked={groqOn} onChange={setGroqOn} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

export function AuditTable({ items, showTenant }: { items: AuditEntries["items"]; showTenant: boolean }) {
  const t = useT();
  const { language } = useContext(I18n);
  const head = [t("audit.when"), ...(showTenant ? [t("audit.tenant")] : []), t("audit.entity"), t("audit.action"), t("audit.fields"), t("audit.actor")];
  const rows = items.map((item) => [
    when(item.occurred_at, language),
    ...(showTenant ? [item.user_id ?? "system"] : []),
    item.entity,
    item.action,
    item.changed_fields.join(", "),
    item.actor_role,
  ]);
  return <Table caption={t("audit.title")} head={head} rows={rows} />;
}

export function AuditPage() {
  const t = useT();
  const client = useClient();
  const [loaded, reload] = useLoad(() => api.myAudit(client));
  return (
    <>
      <h1>{t("audit.title")}</h1>
      <button type="button" className="secondary" onClick={reload}>{t("app.refresh")}</button>
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <AuditTable items={loaded.data.items} showTenant={false} />}
    </>
  );
}

type TestFields = "gateway" | "key" | "phoneNumber" | "text";

export function TestMessagePage() {
  const t = useT();
  const client = useClient();
  const { gatewayUrl } = useContext(Session);
  const [whatsapp] = useLoad(() => api.whatsapp(client));
  const number = whatsapp.state === "ready" ? (whatsapp.data?.display_phone_number ?? "") : "";
  const [values, setValues] = useState<Record<TestFields, string> | null>(null);
  const current = values ?? { gateway: gatewayUrl, key: "", phoneNumber: number, text: "Bonjour" };
  const [problems, setProblems] = useState<Partial<Record<TestFields, TextKey>>>({});
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const set = (field: TestFields) => (value: string) => setValues({ ...current, [field]: value });

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(current, { gateway: [required, httpUrl], key: [required], phoneNumber: [required], text: [required] });
    setProblems(found);
    if (Object.keys(found).length) return;
    storeGatewayUrl(current.gateway);
    setBusy(true);
    setResult(null);
    setResult(await sendTestMessage(current.gateway.trim(), current.key.trim(), { text: current.text, phoneNumber: current.phoneNumber.trim() }));
    setBusy(false);
  }

  return (
    <>
      <h1>{t("test.title")}</h1>
      <p>{t("test.intro")}</p>
      {whatsapp.state === "loading" ? <Loading /> : (
        <form onSubmit={submit} noValidate aria-label={t("test.title")}>
          <Field name="gateway" type="url" label="test.gateway" value={current.gateway} onChange={set("gateway")} error={problems.gateway} />
          <Field name="gateway_key" type="password" label="test.key" value={current.key} onChange={set("key")} error={problems.key} help={t("test.keyHelp")} />
          <Field name="phoneNumber" label="test.phone" value={current.phoneNumber} onChange={set("phoneNumber")} error={problems.phoneNumber} />
          <Field name="text" label="test.text" value={current.text} onChange={set("text")} error={problems.text} />
          <button type="submit" disabled={busy}>{t("test.send")}</button>
          {busy && <p role="status">{t("test.sending")}</p>}
        </form>
      )}
      {result && <TestAnswer result={result} />}
    </>
  );
}

function TestAnswer({ result }: { result: TestResult }) {
  const t = useT();
  if (result.kind === "reply") {
    return (
      <section className="answer" aria-labelledby="test-reply" data-testid="test-reply">
        <h2 id="test-reply">{t("test.reply")}</h2>
        <blockquote>{result.response}</blockquote>
        <dl>
          <dt>{t("test.trace")}</dt>
          <dd><code data-testid="trace-id">{result.traceId}</code></dd>
          <dt>{t("test.messageId")}</dt>
          <dd><code>{result.messageId}</code></dd>
        </dl>
      </section>
    );
  }
  if (result.kind === "configRequired") {
    return <p role="alert" className="status error" data-testid="config-required">{t("test.configRequired")} ({result.error})</p>;
  }
  if (result.kind === "unreachable") return <p role="alert" className="status error">{t("test.unreachable")}</p>;
  return <p role="alert" className="status error">{`${result.status}: ${result.error}`}</p>;
}

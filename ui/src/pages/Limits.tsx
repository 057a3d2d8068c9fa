// Limits and budgets (issue 16's API): the administrator's page for the system default and
// each account's own limits, and the read-only card a tenant sees on its usage page.
// A PUT replaces the whole set, so the form always sends every field; empty = no limit.
import { useState } from "react";
import { api, type LimitsIn, type LimitsOut } from "../api/endpoints";
import { Checkbox, Field, Loading, Select, StatusLine, TextArea, type Option, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { useT, type TextKey, type Translate } from "../i18n";
import { integerIn, matches, optional, validate } from "../validate";

type LimitFields = "messages_per_minute" | "tokens_per_day" | "flood_per_minute" | "polite_text";
export type LimitValues = Record<LimitFields, string>;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const politeText = (value: string): TextKey | null => {
  const length = value.trim().length;
  return length >= 1 && length <= 1000 ? null : "limits.politeInvalid";
};

/** The form's problems, checked with the API's ranges (docs/config-api.md, Limits). */
export function limitProblems(values: LimitValues): Partial<Record<LimitFields, TextKey>> {
  return validate(values, {
    messages_per_minute: [optional(integerIn(1, 100_000, "limits.messagesInvalid"))],
    tokens_per_day: [optional(integerIn(1000, 1_000_000_000, "limits.tokensInvalid"))],
    flood_per_minute: [optional(integerIn(1, 1000, "limits.floodInvalid"))],
    polite_text: [politeText],
  });
}

const number = (value: string): number | null => (value.trim() ? Number(value) : null);

/** The whole set as the API takes it. */
export function limitsBody(values: LimitValues, cheaper: boolean, fallback: boolean): LimitsIn {
  return {
    messages_per_minute: number(values.messages_per_minute),
    tokens_per_day: number(values.tokens_per_day),
    flood_per_minute: number(values.flood_per_minute),
    use_cheaper_model: cheaper,
    use_system_fallback: fallback,
    polite_text: values.polite_text.trim(),
  };
}

const text = (value: number | null | undefined): string => (value == null ? "" : String(value));

export function LimitsForm({ name, saved, save, submitText = "app.save" }: {
  name: string;
  saved: LimitsOut;
  save: (body: LimitsIn) => Promise<LimitsOut>;
  submitText?: TextKey;
}) {
  const t = useT();
  const errorText = useErrorText();
  const [values, setValues] = useState<LimitValues>({
    messages_per_minute: text(saved.messages_per_minute),
    tokens_per_day: text(saved.tokens_per_day),
    flood_per_minute: text(saved.flood_per_minute),
    polite_text: saved.polite_text,
  });
  const [cheaper, setCheaper] = useState(saved.use_cheaper_model);
  const [fallback, setFallback] = useState(saved.use_system_fallback);
  const [problems, setProblems] = useState<Partial<Record<LimitFields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: LimitFields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));
  const none = t("limits.emptyMeansNone");

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = limitProblems(values);
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      await save(limitsBody(values, cheaper, fallback));
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form aria-label={name} noValidate onSubmit={submit}>
      <Field name="messages_per_minute" type="number" step="1" label="limits.messagesPerMinute" value={values.messages_per_minute}
        onChange={set("messages_per_minute")} error={problems.messages_per_minute} help={none} />
      <Field name="tokens_per_day" type="number" step="1" label="limits.tokensPerDay" value={values.tokens_per_day}
        onChange={set("tokens_per_day")} error={problems.tokens_per_day} help={none} />
      <Field name="flood_per_minute" type="number" step="1" label="limits.floodPerMinute" value={values.flood_per_minute}
        onChange={set("flood_per_minute")} error={problems.flood_per_minute} help={none} />
      <Checkbox name="use_cheaper_model" label="limits.useCheaperModel" checked={cheaper} onChange={setCheaper} />
      <Checkbox name="use_system_fallback" label="limits.useSystemFallback" checked={fallback} onChange={setFallback} />
      <TextArea name="polite_text" label="limits.politeText" value={values.polite_text} onChange={set("polite_text")}
        error={problems.polite_text} rows={3} />
      <button type="submit">{t(submitText)}</button>
      <StatusLine status={status} />
    </form>
  );
}

export function LimitsPage() {
  const t = useT();
  const client = useClient();
  const [system] = useLoad(() => api.systemLimits(client));
  return (
    <>
      <h1>{t("limits.title")}</h1>
      <p>{t("limits.intro")}</p>
      <section aria-labelledby="system-limits" className="card">
        <h2 id="system-limits">{t("limits.system")}</h2>
        {system.state === "loading" && <Loading />}
        {system.state === "error" && <p role="alert" className="status error">{system.error}</p>}
        {system.state === "ready" && (
          <LimitsForm name={t("limits.system")} saved={system.data} save={(body) => api.putSystemLimits(client, body)} />
        )}
      </section>
      <TenantLimits />
    </>
  );
}

function TenantLimits() {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [userId, setUserId] = useState("");
  const [problem, setProblem] = useState<TextKey | undefined>();
  const [shown, setShown] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  // The accounts the administrator can pick from: the coverage list (every tenant with a config).
  const [coverage] = useLoad(() => api.coverage(client));
  const [limits, , setLimits] = useLoad(
    () => (shown ? api.tenantLimits(client, shown) : Promise.resolve(null)),
    `${shown}/${round}`,
  );
  const [confirming, setConfirming] = useState(false);
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const picks: Option[] = [
    { value: "", label: t("limits.pickNone") },
    ...(coverage.state === "ready" ? coverage.data.users.map((u) => ({ value: u.user_id, label: u.user_id })) : []),
  ];

  async function inherit(user: string) {
    setStatus({ kind: "busy" });
    try {
      await api.deleteTenantLimits(client, user);
      setConfirming(false);
      setStatus({ kind: "ok", text: "limits.inherited" });
      setRound((r) => r + 1);
    } catch (error) {
      setConfirming(false);
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <section aria-labelledby="tenant-limits" className="card">
      <h2 id="tenant-limits">{t("limits.tenant")}</h2>
      <form aria-label={t("limits.tenant")} className="range" noValidate onSubmit={(event) => {
        event.preventDefault();
        const found = validate({ userId }, { userId: [matches(UUID, "limits.userIdInvalid")] }).userId;
        setProblem(found);
        setStatus({ kind: "idle" });
        setConfirming(false);
        if (!found) {
          setShown(userId.trim().toLowerCase());
          setRound((r) => r + 1);
        }
      }}>
        <Field name="user_id" label="limits.userId" value={userId} onChange={setUserId} error={problem} />
        {picks.length > 1 && <Select name="pick" label="limits.pick" value={picks.some((p) => p.value === userId) ? userId : ""} options={picks} onChange={(value) => value && setUserId(value)} />}
        <button type="submit">{t("limits.show")}</button>
      </form>
      {shown && limits.state === "loading" && <Loading />}
      {limits.state === "error" && <p role="alert" className="status error">{limits.error}</p>}
      {shown && limits.state === "ready" && limits.data && (
        <div key={`${shown}/${round}`}>
          <p data-testid="tenant-applies" className={limits.data.applies === "tenant" ? "ok" : undefined}>
            {t(limits.data.applies === "tenant" ? "limits.appliesTenant" : "limits.appliesSystem")}
          </p>
          <LimitsForm name={t("limits.saveOwn")} submitText="limits.saveOwn" saved={limits.data}
            save={async (body) => {
              const saved = await api.putTenantLimits(client, shown, body);
              setLimits(saved);
              return saved;
            }} />
          {limits.data.applies === "tenant" && (confirming ? (
            <div role="alertdialog" aria-labelledby="confirm-inherit" className="confirm">
              <p id="confirm-inherit">{t("limits.confirmInherit", { user: shown })}</p>
              <button type="button" className="danger" onClick={() => inherit(shown)}>{t("app.confirm")}</button>
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>{t("app.cancel")}</button>
            </div>
          ) : (
            <button type="button" className="danger" onClick={() => { setStatus({ kind: "idle" }); setConfirming(true); }}>
              {t("limits.inherit")}
            </button>
          ))}
        </div>
      )}
      <StatusLine status={status} />
    </section>
  );
}

export function limitText(t: Translate, value: number | null | undefined): string {
  return value == null ? t("limits.none") : String(value);
}

/** What applies to the tenant, read-only (from GET /v1/me/limits). */
export function MyLimitsCard({ limits }: { limits: LimitsOut }) {
  const t = useT();
  const yesNo = (on: boolean) => t(on ? "app.yes" : "app.no");
  return (
    <section aria-labelledby="my-limits" className="card" data-testid="my-limits">
      <h2 id="my-limits">{t("limits.mine")}</h2>
      <p data-testid="my-limits-applies">{t(limits.applies === "tenant" ? "limits.mineTenant" : "limits.mineSystem")}</p>
      <p data-testid="my-limits-budget">{t("limits.budget", { n: limitText(t, limits.tokens_per_day) })}</p>
      <p data-testid="my-limits-rates">
        {t("limits.rates", { messages: limitText(t, limits.messages_per_minute), flood: limitText(t, limits.flood_per_minute) })}
      </p>
      <p>{t("limits.fallbacks", { cheaper: yesNo(limits.use_cheaper_model), fallback: yesNo(limits.use_system_fallback) })}</p>
      <p className="help">{t("limits.readOnly")}</p>
    </section>
  );
}

// Administrator pages: the system fallback and phase-3 switch, monitoring, message timeline,
// and the audit log of every account.
import { useContext, useState } from "react";
import { Bar, BarChart, CartesianGrid, Cell, Legend, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, type IdentificationStats, type MessageTimeline } from "../api/endpoints";
import { Field, Loading, StatusLine, Table, when, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { I18n, useT, type Translate } from "../i18n";
import { required, validate } from "../validate";
import { GroqForm } from "./Groq";
import { AuditTable } from "./Tenant";

export function SystemPage() {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [settings, , setSettings] = useLoad(() => api.systemSettings(client));
  const [confirming, setConfirming] = useState<number | null>(null);
  const [status, setStatus] = useState<Status>({ kind: "idle" });

  async function change(enabled: boolean) {
    setStatus({ kind: "busy" });
    try {
      setSettings(await api.putSystemSettings(client, enabled));
      setConfirming(null);
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  async function askToTurnOff() {
    setStatus({ kind: "idle" });
    try {
      // Accounts without a Groq config are the ones the switch leaves without an answer.
      setConfirming((await api.coverage(client, "Missing")).missing);
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <>
      <h1>{t("system.title")}</h1>
      <p>{t("system.intro")}</p>
      {settings.state === "loading" && <Loading />}
      {settings.state === "error" && <p role="alert" className="status error">{settings.error}</p>}
      {settings.state === "ready" && (
        <section aria-labelledby="fallback" className="card">
          <h2 id="fallback">{t("system.enabled")}</h2>
          <p data-testid="fallback-state" className={settings.data.fallback_enabled ? "ok" : "warning"}>
            {settings.data.fallback_enabled ? t("system.enabledState") : t("system.disabledState")}
          </p>
          {settings.data.fallback_enabled ? (
            confirming === null ? (
              <button type="button" className="danger" onClick={askToTurnOff}>{t("system.turnOff")}</button>
            ) : (
              <div role="alertdialog" aria-labelledby="confirm-off" className="confirm">
                <p id="confirm-off" data-testid="confirm-off">{t("system.confirmOff", { count: confirming })}</p>
                <button type="button" className="danger" onClick={() => change(false)}>{t("app.confirm")}</button>
                <button type="button" className="secondary" onClick={() => setConfirming(null)}>{t("app.cancel")}</button>
              </div>
            )
          ) : (
            <button type="button" onClick={() => change(true)}>{t("system.turnOn")}</button>
          )}
          <StatusLine status={status} />
        </section>
      )}
      <h2>{t("system.groq")}</h2>
      <GroqForm title="system.groq" load={() => api.systemGroq(client)} save={(body) => api.putSystemGroq(client, body)} />
    </>
  );
}

const WINDOWS = [1, 6, 24, 168, 720];

export function windowLabel(t: Translate, hours: number): string {
  return hours % 24 === 0 && hours >= 24 ? t("monitor.days", { n: hours / 24 }) : t("monitor.hours", { n: hours });
}

export function rateRows(t: Translate, stats: IdentificationStats[]) {
  return stats.map((s) => ({
    window: windowLabel(t, s.hours),
    identified: s.identified_messages,
    unidentified: s.total_messages - s.identified_messages,
    rate: s.success_rate,
  }));
}

export function MonitoringPage() {
  const t = useT();
  const client = useClient();
  const { language } = useContext(I18n);
  const [data, reload] = useLoad(async () => {
    const [stats, coverage, unassociated] = await Promise.all([
      Promise.all(WINDOWS.map((hours) => api.identification(client, hours))),
      api.coverage(client),
      api.unassociated(client),
    ]);
    return { stats, coverage, unassociated };
  });
  if (data.state === "loading") return <Loading />;
  if (data.state === "error") return <p role="alert" className="status error">{data.error}</p>;
  const { stats, coverage, unassociated } = data.data;
  const rows = rateRows(t, stats);
  const pie = [
    { name: t("monitor.configured"), value: coverage.configured, color: "#1b7f4b" },
    { name: t("monitor.missing"), value: coverage.missing, color: "#b3261e" },
  ];
  return (
    <>
      <h1>{t("monitor.title")}</h1>
      <button type="button" className="secondary" onClick={reload}>{t("app.refresh")}</button>
      <section aria-labelledby="rate" className="card">
        <h2 id="rate">{t("monitor.rate")}</h2>
        <div className="chart" data-testid="chart-identification" role="img" aria-label={t("monitor.rate")}>
          <ResponsiveContainer width="100%" height={240}>
            <BarChart data={rows}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="window" />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Bar dataKey="identified" stackId="m" name={t("monitor.identified")} fill="#1b7f4b" isAnimationActive={false} />
              <Bar dataKey="unidentified" stackId="m" name={t("monitor.unidentified")} fill="#b3261e" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
        <Table
          caption={t("monitor.rate")}
          head={[t("monitor.window"), t("monitor.total"), t("monitor.identified"), t("monitor.successRate")]}
          rows={stats.map((s) => [windowLabel(t, s.hours), s.total_messages, s.identified_messages, s.success_rate ?? "—"])}
        />
      </section>
      <section aria-labelledby="coverage" className="card">
        <h2 id="coverage">{t("monitor.coverage")}</h2>
        <div className="chart" data-testid="chart-coverage" role="img" aria-label={t("monitor.coverage")}>
          <ResponsiveContainer width="100%" height={220}>
            <PieChart>
              <Pie data={pie} dataKey="value" nameKey="name" outerRadius={70} isAnimationActive={false} label>
                {pie.map((slice) => <Cell key={slice.name} fill={slice.color} />)}
              </Pie>
              <Legend />
              <Tooltip />
            </PieChart>
          </ResponsiveContainer>
        </div>
        <p data-testid="coverage-counts">
          {t("monitor.users")}: {coverage.total} · {t("monitor.configured")}: {coverage.configured} · {t("monitor.missing")}: {coverage.missing}
        </p>
        <Table
          caption={t("monitor.coverage")}
          head={[t("audit.tenant"), t("monitor.status"), t("monitor.lastMessage")]}
          rows={coverage.users.map((u) => [u.user_id, u.groq_status, when(u.last_message_at, language)])}
        />
      </section>
      <section aria-labelledby="unassociated" className="card">
        <h2 id="unassociated">{t("monitor.unassociated")} ({unassociated.total})</h2>
        <Table
          caption={t("monitor.unassociated")}
          head={[t("audit.when"), t("monitor.customer"), t("monitor.channel"), t("monitor.text")]}
          rows={unassociated.items.map((m) => [when(m.occurred_at, language), m.customer_phone ?? "—", m.channel ?? "—", m.text ?? ""])}
        />
      </section>
    </>
  );
}

export function TimelinePage() {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [messageId, setMessageId] = useState("");
  const [problem, setProblem] = useState<ReturnType<typeof required>>(null);
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const [timeline, setTimeline] = useState<MessageTimeline | null>(null);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate({ messageId }, { messageId: [required] }).messageId ?? null;
    setProblem(found);
    if (found) return;
    setStatus({ kind: "busy" });
    setTimeline(null);
    try {
      setTimeline(await api.timeline(client, messageId.trim()));
      setStatus({ kind: "idle" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <>
      <h1>{t("timeline.title")}</h1>
      <form onSubmit={submit} noValidate aria-label={t("timeline.title")}>
        <Field name="message_id" label="timeline.messageId" value={messageId} onChange={setMessageId} error={problem ?? undefined} />
        <button type="submit">{t("timeline.show")}</button>
        {status.kind === "busy" ? <Loading /> : <StatusLine status={status} />}
      </form>
      {timeline && <TimelineView timeline={timeline} />}
    </>
  );
}

function TimelineView({ timeline }: { timeline: MessageTimeline }) {
  const t = useT();
  const { language } = useContext(I18n);
  return (
    <section className="card" data-testid="timeline">
      {timeline.trace_id && (
        <p>
          {timeline.trace_url ? (
            <a href={timeline.trace_url} target="_blank" rel="noreferrer noopener" data-testid="trace-link">
              {t("timeline.openTrace", { id: timeline.trace_id })}
            </a>
          ) : (
            t("timeline.traceId", { id: timeline.trace_id })
          )}
        </p>
      )}
      <ol className="timeline">
        {timeline.events.map((event) => (
          <li key={event.event_id}>
            <strong>{event.event_type}</strong> · <span className="service">{event.service}</span> ·{" "}
            <time dateTime={event.occurred_at}>{when(event.occurred_at, language)}</time>
            {event.attempt ? ` · ${t("timeline.attempt")} ${event.attempt}` : ""}
          </li>
        ))}
      </ol>
    </section>
  );
}

export function AdminAuditPage() {
  const t = useT();
  const client = useClient();
  const [filter, setFilter] = useState("");
  const [applied, setApplied] = useState("");
  const [loaded] = useLoad(() => api.adminAudit(client, applied || undefined), applied);
  return (
    <>
      <h1>{t("adminAudit.title")}</h1>
      <form onSubmit={(e) => { e.preventDefault(); setApplied(filter.trim()); }} aria-label={t("adminAudit.title")}>
        <Field name="user_id" label="adminAudit.filter" value={filter} onChange={setFilter} />
        <button type="submit">{t("app.refresh")}</button>
      </form>
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <AuditTable items={loaded.data.items} showTenant />}
    </>
  );
}

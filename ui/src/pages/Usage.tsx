// Usage: a tenant's requests, tokens and audio seconds per day (from /v1/me/usage), and the
// tenant's limits against it (from /v1/me/limits), and the administrator's top accounts (from /v1/admin/usage), as charts with their tables.
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, type AdminUsageOut, type UsageOut } from "../api/endpoints";
import { Field, Loading, Select, Table, type Option } from "../components/ui";
import { useClient, useLoad } from "../components/hooks";
import { useT, type TextKey } from "../i18n";
import { integerIn, validate, type Check } from "../validate";
import { MyLimitsCard } from "./Limits";

export type Metric = "requests" | "tokens" | "audio_seconds";
const METRICS: Metric[] = ["requests", "tokens", "audio_seconds"];
const METRIC_TEXT: Record<Metric, TextKey> = { requests: "usage.requests", tokens: "usage.tokens", audio_seconds: "usage.audio" };

export interface DayUsage {
  day: string;
  requests: number;
  tokens: number;
  audio_seconds: number;
  failures: number;
}

const DAY_MS = 86_400_000;

export function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The last 30 UTC days, today included (the API's own default). */
export function defaultRange(now: Date = new Date()): { from: string; to: string } {
  return { from: isoDay(new Date(now.getTime() - 29 * DAY_MS)), to: isoDay(now) };
}

/** One point per day from `from` to `to`: the rows of every key and model summed, 0 on a quiet day. */
export function perDay(usage: UsageOut): DayUsage[] {
  const days = new Map<string, DayUsage>();
  for (let at = Date.parse(`${usage.from}T00:00:00Z`); at <= Date.parse(`${usage.to}T00:00:00Z`); at += DAY_MS) {
    const day = isoDay(new Date(at));
    days.set(day, { day, requests: 0, tokens: 0, audio_seconds: 0, failures: 0 });
  }
  for (const row of usage.rows) {
    const day = days.get(row.day) ?? { day: row.day, requests: 0, tokens: 0, audio_seconds: 0, failures: 0 };
    day.requests += row.requests;
    day.tokens += row.prompt_tokens + row.completion_tokens;
    day.audio_seconds += row.audio_seconds;
    day.failures += row.failures;
    days.set(row.day, day);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

const day: Check = (value) => (/^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)) ? null : "usage.dayInvalid");

/** The range's problems, checked as the API does (from ≤ to, at most 366 days). */
export function rangeProblems(from: string, to: string): Partial<Record<"from" | "to", TextKey>> {
  const found = validate({ from, to }, { from: [day], to: [day] });
  if (Object.keys(found).length) return found;
  const span = (Date.parse(to) - Date.parse(from)) / DAY_MS;
  if (span < 0 || span >= 366) return { to: "usage.rangeInvalid" };
  return {};
}

function RangeForm({ initial, onApply, children }: { initial: { from: string; to: string }; onApply: (range: { from: string; to: string }) => void; children?: React.ReactNode }) {
  const t = useT();
  const [from, setFrom] = useState(initial.from);
  const [to, setTo] = useState(initial.to);
  const [problems, setProblems] = useState<Partial<Record<"from" | "to", TextKey>>>({});
  return (
    <form className="range" aria-label={t("usage.range")} noValidate onSubmit={(event) => {
      event.preventDefault();
      const found = rangeProblems(from, to);
      setProblems(found);
      if (!Object.keys(found).length) onApply({ from, to });
    }}>
      <Field name="from" type="date" label="usage.from" value={from} onChange={setFrom} error={problems.from} />
      <Field name="to" type="date" label="usage.to" value={to} onChange={setTo} error={problems.to} />
      {children}
      <button type="submit">{t("usage.show")}</button>
    </form>
  );
}

export function UsagePage() {
  const t = useT();
  const client = useClient();
  const [range, setRange] = useState(defaultRange);
  const [metric, setMetric] = useState<Metric>("requests");
  const [loaded] = useLoad(() => api.usage(client, range.from, range.to), `${range.from}/${range.to}`);
  const [limits] = useLoad(() => api.myLimits(client));
  const tokensPerDay = limits.state === "ready" ? (limits.data.tokens_per_day ?? null) : null;
  const options: Option[] = METRICS.map((m) => ({ value: m, label: t(METRIC_TEXT[m]) }));
  return (
    <>
      <h1>{t("usage.title")}</h1>
      <p>{t("usage.intro")}</p>
      <RangeForm initial={range} onApply={setRange} />
      <Select name="metric" label="usage.metric" value={metric} onChange={(value) => setMetric(value as Metric)} options={options} />
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <UsageChart usage={loaded.data} metric={metric} tokensPerDay={tokensPerDay} />}
      {limits.state === "loading" && <Loading />}
      {limits.state === "error" && <p role="alert" className="status error">{limits.error}</p>}
      {limits.state === "ready" && <MyLimitsCard limits={limits.data} />}
    </>
  );
}

function UsageChart({ usage, metric, tokensPerDay }: { usage: UsageOut; metric: Metric; tokensPerDay: number | null }) {
  const t = useT();
  const days = perDay(usage);
  const totals = days.reduce((sum, d) => ({ requests: sum.requests + d.requests, tokens: sum.tokens + d.tokens, audio: sum.audio + d.audio_seconds }), { requests: 0, tokens: 0, audio: 0 });
  return (
    <section aria-labelledby="usage-chart" className="card">
      <h2 id="usage-chart">{t(METRIC_TEXT[metric])}</h2>
      <p data-testid="usage-totals">{t("usage.totals", { requests: totals.requests, tokens: totals.tokens, audio: Math.round(totals.audio) })}</p>
      {usage.rows.length === 0 ? (
        <p className="empty">{t("usage.none")}</p>
      ) : (
        <>
          <div className="chart" data-testid="chart-usage" role="img" aria-label={`${t(METRIC_TEXT[metric])} — ${usage.from} → ${usage.to}`}>
            <ResponsiveContainer width="100%" height={240}>
              <BarChart data={days}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="day" tickFormatter={(value: string) => value.slice(5)} />
                <YAxis allowDecimals={metric === "audio_seconds"} />
                <Tooltip />
                <Bar dataKey={metric} name={t(METRIC_TEXT[metric])} fill="#1f5fa8" isAnimationActive={false} />
                {metric === "tokens" && tokensPerDay !== null && (
                  // The day's budget: the axis stretches to show it even when usage is far below.
                  <ReferenceLine y={tokensPerDay} stroke="#b3261e" strokeDasharray="6 3" ifOverflow="extendDomain"
                    label={{ value: t("limits.tokensLine", { n: tokensPerDay }), position: "insideTopRight", fill: "#b3261e" }} />
                )}
              </BarChart>
            </ResponsiveContainer>
          </div>
          <Table caption={t("usage.title")} head={[t("usage.day"), t("usage.requests"), t("usage.tokens"), t("usage.audio"), t("usage.failures")]}
            rows={days.filter((d) => d.requests || d.tokens || d.audio_seconds || d.failures).map((d) => [d.day, d.requests, d.tokens, Math.round(d.audio_seconds * 10) / 10, d.failures])} />
        </>
      )}
    </section>
  );
}

export function AdminUsagePage() {
  const t = useT();
  const client = useClient();
  const [query, setQuery] = useState({ ...defaultRange(), top: 20 });
  const [top, setTop] = useState("20");
  const [topProblem, setTopProblem] = useState<TextKey | undefined>();
  const [loaded] = useLoad(() => api.adminUsage(client, query.from, query.to, query.top), `${query.from}/${query.to}/${query.top}`);
  return (
    <>
      <h1>{t("adminUsage.title")}</h1>
      <RangeForm initial={query} onApply={(range) => {
        const problem = validate({ top }, { top: [integerIn(1, 1000, "adminUsage.topInvalid")] }).top;
        setTopProblem(problem);
        if (!problem) setQuery({ ...range, top: Number(top) });
      }}>
        <Field name="top" type="number" step="1" label="adminUsage.top" value={top} onChange={setTop} error={topProblem} />
      </RangeForm>
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <TopTenants usage={loaded.data} />}
    </>
  );
}

function TopTenants({ usage }: { usage: AdminUsageOut }) {
  const t = useT();
  const rows = usage.tenants.map((tenant) => ({
    who: tenant.user_id ?? t("adminUsage.system"),
    requests: tenant.requests,
    tokens: tenant.prompt_tokens + tenant.completion_tokens,
    audio: Math.round(tenant.audio_seconds * 10) / 10,
    failures: tenant.failures,
  }));
  if (!rows.length) return <p className="empty">{t("usage.none")}</p>;
  return (
    <section aria-labelledby="top-tenants" className="card">
      <h2 id="top-tenants">{t("adminUsage.top")}</h2>
      <div className="chart" data-testid="chart-admin-usage" role="img" aria-label={t("adminUsage.chart")}>
        <ResponsiveContainer width="100%" height={Math.max(160, rows.length * 28)}>
          <BarChart data={rows} layout="vertical" margin={{ left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis type="number" allowDecimals={false} />
            <YAxis type="category" dataKey="who" width={90} tickFormatter={(value: string) => value.slice(0, 8)} />
            <Tooltip />
            <Bar dataKey="requests" name={t("usage.requests")} fill="#1f5fa8" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </div>
      <Table caption={t("adminUsage.title")} head={[t("adminUsage.tenant"), t("usage.requests"), t("usage.tokens"), t("usage.audio"), t("usage.failures")]}
        rows={rows.map((row) => [<code>{row.who}</code>, row.requests, row.tokens, row.audio, row.failures])} />
    </section>
  );
}

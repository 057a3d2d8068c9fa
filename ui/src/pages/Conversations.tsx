// The tenant's conversations with who answers them (bot, a person, or paused), a pause/resume
// switch per conversation and one for every conversation of the account.
import { useContext, useState } from "react";
import { api, type ConversationsPage, type OwnerState } from "../api/endpoints";
import { Loading, StatusLine, Table, when, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { I18n, useT, type TextKey, type Translate } from "../i18n";

const OWNER_TEXT: Record<string, TextKey> = { bot: "conv.bot", human: "conv.human", paused: "conv.paused" };
const CHANGED_BY: Record<string, TextKey> = {
  tenant_api: "conv.by.tenant_api",
  business_echo: "conv.by.business_echo",
  customer_request: "conv.by.customer_request",
  model_handoff: "conv.by.model_handoff",
  repeated_failures: "conv.by.repeated_failures",
  expiry: "conv.by.expiry",
};

/** "Paused until 18:00 — by the customer's request (reason)" in the page's language. */
export function ownerText(t: Translate, language: string, owner: OwnerState): string {
  const parts = [t(OWNER_TEXT[owner.owner] ?? "conv.bot")];
  if (owner.until) parts.push(t("conv.until", { when: when(owner.until, language) }));
  const by = owner.changed_by ? CHANGED_BY[owner.changed_by] : undefined;
  const who = [by ? t(by) : (owner.changed_by ?? ""), owner.actor ?? ""].filter(Boolean).join(", ");
  if (who) parts.push(`(${who})`);
  if (owner.reason) parts.push(`— ${owner.reason}`);
  return parts.join(" ");
}

/** The owner a local change set, until the list is read again. */
function changed(owner: OwnerState["owner"], until: string | null, at: string): OwnerState {
  return { owner, until, changed_by: "tenant_api", actor: null, reason: null, changed_at: at };
}

export function ConversationsListPage() {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const { language } = useContext(I18n);
  const [offset, setOffset] = useState(0);
  const [loaded, reload, setLoaded] = useLoad(() => api.conversations(client, offset), String(offset));
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  if (loaded.state === "loading") return <Loading />;
  if (loaded.state === "error") return <p role="alert" className="status error">{loaded.error}</p>;
  const page: ConversationsPage = loaded.data;

  async function setOwner(key: string | null, owner: "bot" | "paused") {
    setStatus({ kind: "busy" });
    try {
      const answer = key
        ? await api.putConversationOwner(client, key, { owner })
        : await api.putTenantOwner(client, { owner });
      const state = changed(answer.owner, answer.until, answer.changed_at);
      setLoaded(
        key
          ? { ...page, items: page.items.map((item) => (item.conversation_key === key ? { ...item, owner: state } : item)) }
          : { ...page, tenant_owner: state },
      );
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  const allPaused = page.tenant_owner !== null && page.tenant_owner.owner !== "bot";
  const head = [t("conv.customer"), t("conv.channel"), t("conv.last"), t("conv.count"), t("conv.owner"), t("conv.switch")];
  const rows = page.items.map((item) => {
    const name = item.customer_phone ?? item.conversation_key;
    const off = item.owner.owner !== "bot";
    return [
      <span title={item.conversation_key}>{name}</span>,
      item.channel ?? "—",
      when(item.last_message_at, language),
      item.message_count,
      <span data-testid={`owner-${item.conversation_key}`}>{ownerText(t, language, item.owner)}</span>,
      <button type="button" role="switch" aria-checked={!off} className={off ? "secondary" : undefined}
        aria-label={t("conv.botFor", { who: name })} disabled={status.kind === "busy"}
        onClick={() => setOwner(item.conversation_key, off ? "bot" : "paused")}>
        {off ? t("conv.resume") : t("conv.pause")}
      </button>,
    ];
  });
  return (
    <>
      <h1>{t("conv.title")}</h1>
      <p>{t("conv.intro")}</p>
      <section aria-labelledby="tenant-owner" className="card">
        <h2 id="tenant-owner">{t("conv.all")}</h2>
        <p data-testid="tenant-owner">{page.tenant_owner ? ownerText(t, language, page.tenant_owner) : t("conv.bot")}</p>
        <button type="button" role="switch" aria-checked={!allPaused} aria-label={t("conv.botForAll")} disabled={status.kind === "busy"}
          className={allPaused ? "secondary" : "danger"} onClick={() => setOwner(null, allPaused ? "bot" : "paused")}>
          {allPaused ? t("conv.resumeAll") : t("conv.pauseAll")}
        </button>
      </section>
      <StatusLine status={status} />
      <button type="button" className="secondary" onClick={reload}>{t("app.refresh")}</button>
      <p className="help">{t("conv.total", { n: page.total })}</p>
      <Table caption={t("conv.title")} head={head} rows={rows} />
      {(page.offset > 0 || page.offset + page.items.length < page.total) && (
        <nav aria-label={t("conv.pages")} className="pager">
          <button type="button" className="secondary" disabled={page.offset === 0} onClick={() => setOffset(Math.max(0, page.offset - page.limit))}>{t("conv.previous")}</button>
          <span>{t("conv.range", { first: page.offset + 1, last: page.offset + page.items.length, total: page.total })}</span>
          <button type="button" className="secondary" disabled={page.offset + page.items.length >= page.total} onClick={() => setOffset(page.offset + page.limit)}>{t("conv.next")}</button>
        </nav>
      )}
    </>
  );
}

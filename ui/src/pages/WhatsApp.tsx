import { useContext, useState } from "react";
import { api, type WhatsAppOut } from "../api/endpoints";
import { Checkbox, CopyButton, Field, Loading, StatusLine, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { Session } from "../context";
import { useT, type TextKey } from "../i18n";
import { storeGatewayUrl } from "../auth";
import { e164, httpUrl, phoneNumberId, randomToken, required, validate } from "../validate";

type Fields = "phone_number_id" | "display_phone_number" | "access_token" | "app_secret" | "verify_token";

export function WhatsAppPage() {
  const t = useT();
  const client = useClient();
  const [loaded, , setLoaded] = useLoad(() => api.whatsapp(client));
  if (loaded.state === "loading") return <Loading />;
  if (loaded.state === "error") return <p role="alert" className="status error">{loaded.error}</p>;
  return (
    <>
      <h1>{t("whatsapp.title")}</h1>
      <p>{t("whatsapp.intro")}</p>
      <WhatsAppForm saved={loaded.data} onSaved={setLoaded} />
      <MetaWebhook />
    </>
  );
}

const reenter = (value: string): TextKey | null => (value.trim() ? null : "whatsapp.reenter");

function WhatsAppForm({ saved, onSaved }: { saved: WhatsAppOut | null; onSaved: (v: WhatsAppOut) => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [values, setValues] = useState<Record<Fields, string>>({
    phone_number_id: saved?.phone_number_id ?? "",
    display_phone_number: saved?.display_phone_number ?? "",
    access_token: "",
    app_secret: "",
    verify_token: "",
  });
  const [active, setActive] = useState(saved?.is_active ?? true);
  const [problems, setProblems] = useState<Partial<Record<Fields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: Fields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      phone_number_id: [required, phoneNumberId],
      display_phone_number: [required, e164],
      access_token: [required],
      // A PUT replaces the whole config: an optional secret left empty would be erased.
      app_secret: saved?.app_secret_set ? [reenter] : [],
      verify_token: saved?.verify_token_set ? [reenter] : [],
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      const answer = await api.putWhatsapp(client, {
        phone_number_id: values.phone_number_id.trim(),
        display_phone_number: values.display_phone_number.trim(),
        access_token: values.access_token,
        app_secret: values.app_secret || null,
        verify_token: values.verify_token || null,
        is_active: active,
      });
      // Secrets leave the page's memory once sent: only the API's hints stay.
      setValues((v) => ({ ...v, access_token: "", app_secret: "", verify_token: "" }));
      onSaved(answer);
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  const secretState = (isSet: boolean | undefined) => (isSet ? t("app.set") : t("app.notSet"));
  return (
    <form onSubmit={submit} noValidate aria-label={t("whatsapp.title")}>
      <Field name="phone_number_id" label="whatsapp.phoneNumberId" value={values.phone_number_id} onChange={set("phone_number_id")} error={problems.phone_number_id} />
      <Field name="display_phone_number" label="whatsapp.display" value={values.display_phone_number} onChange={set("display_phone_number")} error={problems.display_phone_number} />
      <p className="help">{t("whatsapp.secretsWriteOnly")}</p>
      <Field name="access_token" type="password" label="whatsapp.accessToken" value={values.access_token} onChange={set("access_token")} error={problems.access_token}
        help={saved ? t("whatsapp.hint", { hint: saved.access_token_hint }) : undefined} />
      <Field name="app_secret" type="password" label="whatsapp.appSecret" value={values.app_secret} onChange={set("app_secret")} error={problems.app_secret}
        help={saved ? secretState(saved.app_secret_set) : undefined} />
      <Field name="verify_token" type="password" label="whatsapp.verifyToken" value={values.verify_token} onChange={set("verify_token")} error={problems.verify_token}
        help={saved ? secretState(saved.verify_token_set) : undefined} />
      <Checkbox name="is_active" label="whatsapp.active" checked={active} onChange={setActive} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

function MetaWebhook() {
  const t = useT();
  const { gatewayUrl } = useContext(Session);
  const [gateway, setGateway] = useState(gatewayUrl);
  const [token, setToken] = useState("");
  const url = `${gateway.replace(/\/+$/, "")}/webhooks/whatsapp`;
  return (
    <section aria-labelledby="meta-webhook">
      <h2 id="meta-webhook">{t("webhook.title")}</h2>
      <Field
        name="gateway_url"
        type="url"
        label="webhook.gateway"
        value={gateway}
        error={httpUrl(gateway) ?? undefined}
        onChange={(value) => {
          setGateway(value);
          if (!httpUrl(value)) storeGatewayUrl(value);
        }}
      />
      <div className="copy-row">
        <span className="label">{t("webhook.url")}</span>
        <code data-testid="webhook-url">{url}</code>
        <CopyButton text={url} label={t("webhook.url")} />
      </div>
      <p className="help">{t("webhook.verifyHelp")}</p>
      <div className="copy-row">
        <span className="label">{t("webhook.verify")}</span>
        <code data-testid="verify-token">{token || "—"}</code>
        <button type="button" className="secondary" onClick={() => setToken(randomToken())}>{t("webhook.generate")}</button>
        {token && <CopyButton text={token} label={t("webhook.verify")} />}
      </div>
    </section>
  );
}

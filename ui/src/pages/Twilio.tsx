import { useContext, useState } from "react";
import { api, type TwilioOut } from "../api/endpoints";
import { Checkbox, CopyButton, Field, Loading, StatusLine, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { Session } from "../context";
import { useT, type TextKey } from "../i18n";
import { e164, required, twilioSid, validate } from "../validate";

type Fields = "account_sid" | "auth_token" | "phone_number";

export function TwilioPage() {
  const t = useT();
  const client = useClient();
  const { gatewayUrl } = useContext(Session);
  const [loaded, , setLoaded] = useLoad(() => api.twilio(client));
  const url = `${gatewayUrl}/webhooks/twilio`;
  return (
    <>
      <h1>{t("twilio.title")}</h1>
      <p>{t("twilio.intro")}</p>
      {loaded.state === "loading" && <Loading />}
      {loaded.state === "error" && <p role="alert" className="status error">{loaded.error}</p>}
      {loaded.state === "ready" && <TwilioForm saved={loaded.data} onSaved={setLoaded} />}
      <div className="copy-row">
        <span className="label">{t("twilio.webhook")}</span>
        <code>{url}</code>
        <CopyButton text={url} label={t("twilio.webhook")} />
      </div>
    </>
  );
}

function TwilioForm({ saved, onSaved }: { saved: TwilioOut | null; onSaved: (v: TwilioOut) => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [values, setValues] = useState<Record<Fields, string>>({
    account_sid: saved?.account_sid ?? "",
    auth_token: "",
    phone_number: saved?.phone_number ?? "",
  });
  const [active, setActive] = useState(saved?.is_active ?? true);
  const [problems, setProblems] = useState<Partial<Record<Fields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: Fields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      account_sid: [required, twilioSid],
      auth_token: [required],
      phone_number: [required, e164],
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      const answer = await api.putTwilio(client, { ...values, is_active: active });
      setValues((v) => ({ ...v, auth_token: "" }));
      onSaved(answer);
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t("twilio.title")}>
      <Field name="account_sid" label="twilio.accountSid" value={values.account_sid} onChange={set("account_sid")} error={problems.account_sid} />
      <Field name="auth_token" type="password" label="twilio.authToken" value={values.auth_token} onChange={set("auth_token")} error={problems.auth_token}
        help={saved ? t("whatsapp.hint", { hint: saved.auth_token_hint }) : t("app.keepSecret")} />
      <Field name="phone_number" label="twilio.phone" value={values.phone_number} onChange={set("phone_number")} error={problems.phone_number} />
      <Checkbox name="is_active" label="whatsapp.active" checked={active} onChange={setActive} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

// The tenant's conversation settings (turn window, typing and read receipts, human expiry,
// handoff phrases, the 24-hour template) and media settings (models, polite texts, limits).
// Each PUT replaces the whole set, so each form sends every field.
import { useState } from "react";
import { api, type ConversationSettingsOut, type MediaSettingsOut } from "../api/endpoints";
import { Checkbox, Field, Loading, StatusLine, TextArea, type Status } from "../components/ui";
import { useClient, useErrorText, useLoad } from "../components/hooks";
import { useT, type TextKey } from "../i18n";
import { integerIn, lines, matches, optional, validate, type Check } from "../validate";
import { ModelField, pickerKey, useModels, type Models } from "./GroqKeys";

export const MEDIA_KINDS = ["audio", "image", "document", "video", "sticker"] as const;
type MediaKind = (typeof MEDIA_KINDS)[number];

export function SettingsPage() {
  const t = useT();
  const client = useClient();
  const [conversation, , setConversation] = useLoad(() => api.conversationSettings(client));
  const [media, , setMedia] = useLoad(() => api.mediaSettings(client));
  // The transcription and vision models are picked from what a pool key can use, when there is one.
  const [pool] = useLoad(() => api.groqKeys(client));
  const models = useModels(client, pool.state === "ready" ? (pickerKey(pool.data.keys)?.key_id ?? null) : null);
  return (
    <>
      <h1>{t("settings.title")}</h1>
      <p>{t("settings.intro")}</p>
      {conversation.state === "loading" && <Loading />}
      {conversation.state === "error" && <p role="alert" className="status error">{conversation.error}</p>}
      {conversation.state === "ready" && <ConversationForm saved={conversation.data} onSaved={setConversation} />}
      {media.state === "loading" && <Loading />}
      {media.state === "error" && <p role="alert" className="status error">{media.error}</p>}
      {media.state === "ready" && <MediaForm saved={media.data} onSaved={setMedia} models={models} />}
    </>
  );
}

type ConversationFields = "turn_quiet_ms" | "turn_max_ms" | "human_expiry_min" | "handoff_phrases" | "reengagement_template" | "template_language";

const phrases: Check = (value) => {
  const all = lines(value);
  if (all.length > 50) return "settings.tooManyPhrases";
  return all.some((phrase) => phrase.length > 100) ? "settings.phraseTooLong" : null;
};

export function ConversationForm({ saved, onSaved }: { saved: ConversationSettingsOut; onSaved: (v: ConversationSettingsOut) => void }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const [values, setValues] = useState<Record<ConversationFields, string>>({
    turn_quiet_ms: String(saved.turn_quiet_ms),
    turn_max_ms: String(saved.turn_max_ms),
    // Minutes on the page, seconds in the API.
    human_expiry_min: String(Math.round(saved.human_expiry_s / 60)),
    handoff_phrases: saved.handoff_phrases.join("\n"),
    reengagement_template: saved.reengagement_template ?? "",
    template_language: saved.template_language,
  });
  const [typing, setTyping] = useState(saved.typing_indicator);
  const [receipts, setReceipts] = useState(saved.read_receipts);
  const [problems, setProblems] = useState<Partial<Record<ConversationFields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: ConversationFields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      turn_quiet_ms: [integerIn(0, 60000, "settings.quietInvalid")],
      turn_max_ms: [integerIn(0, 120000, "settings.maxInvalid")],
      human_expiry_min: [integerIn(1, 43200, "settings.expiryInvalid")],
      handoff_phrases: [phrases],
      reengagement_template: [optional(matches(/^[a-z0-9_]{1,512}$/, "settings.templateInvalid"))],
      template_language: [matches(/^[a-z]{2,3}(_[A-Z]{2})?$/, "settings.templateLanguageInvalid")],
    });
    const quiet = Number(values.turn_quiet_ms);
    const max = Number(values.turn_max_ms);
    if (!found.turn_max_ms && !found.turn_quiet_ms && quiet && max && max < quiet) found.turn_max_ms = "settings.maxShorter";
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    try {
      onSaved(
        await api.putConversationSettings(client, {
          turn_quiet_ms: quiet,
          turn_max_ms: max,
          typing_indicator: typing,
          read_receipts: receipts,
          human_expiry_s: Number(values.human_expiry_min) * 60,
          handoff_phrases: lines(values.handoff_phrases),
          reengagement_template: values.reengagement_template.trim() || null,
          template_language: values.template_language.trim(),
        }),
      );
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t("settings.conversation")} className="card">
      <h2>{t("settings.conversation")}</h2>
      <p className="help">{t("settings.turnHelp")}</p>
      <Field name="turn_quiet_ms" type="number" step="100" label="settings.quiet" value={values.turn_quiet_ms} onChange={set("turn_quiet_ms")} error={problems.turn_quiet_ms} />
      <Field name="turn_max_ms" type="number" step="100" label="settings.max" value={values.turn_max_ms} onChange={set("turn_max_ms")} error={problems.turn_max_ms} />
      <Checkbox name="typing_indicator" label="settings.typing" checked={typing} onChange={setTyping} />
      <Checkbox name="read_receipts" label="settings.receipts" checked={receipts} onChange={setReceipts} />
      <Field name="human_expiry_min" type="number" step="1" label="settings.expiry" value={values.human_expiry_min} onChange={set("human_expiry_min")} error={problems.human_expiry_min} />
      <TextArea name="handoff_phrases" label="settings.phrases" value={values.handoff_phrases} onChange={set("handoff_phrases")} error={problems.handoff_phrases} help={t("settings.phrasesHelp")} />
      <Field name="reengagement_template" label="settings.template" value={values.reengagement_template} onChange={set("reengagement_template")} error={problems.reengagement_template} help={t("settings.templateHelp")} />
      <Field name="template_language" label="settings.templateLanguage" value={values.template_language} onChange={set("template_language")} error={problems.template_language} />
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

type MediaFields = "transcription_model" | "language_hint" | "vision_model" | "text_language" | "document_text_limit" | `polite_${MediaKind}`;

const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const politeText: Check = (value) => (value.trim().length <= 1000 ? null : "settings.politeTooLong");

export function MediaForm({ saved, onSaved, models = { state: "none" } }: { saved: MediaSettingsOut; onSaved: (v: MediaSettingsOut) => void; models?: Models }) {
  const t = useT();
  const client = useClient();
  const errorText = useErrorText();
  const polite = saved.polite_texts as Partial<Record<MediaKind, string>>;
  const [values, setValues] = useState<Record<MediaFields, string>>({
    transcription_model: saved.transcription_model,
    language_hint: saved.language_hint ?? "",
    vision_model: saved.vision_model ?? "",
    text_language: saved.text_language,
    document_text_limit: String(saved.document_text_limit),
    polite_audio: polite.audio ?? "",
    polite_image: polite.image ?? "",
    polite_document: polite.document ?? "",
    polite_video: polite.video ?? "",
    polite_sticker: polite.sticker ?? "",
  });
  const [problems, setProblems] = useState<Partial<Record<MediaFields, TextKey>>>({});
  const [status, setStatus] = useState<Status>({ kind: "idle" });
  const set = (field: MediaFields) => (value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const found = validate(values, {
      transcription_model: [matches(MODEL, "settings.modelInvalid")],
      vision_model: [optional(matches(MODEL, "settings.modelInvalid"))],
      language_hint: [optional(matches(/^[a-z]{2}$/, "settings.languageInvalid"))],
      text_language: [matches(/^[a-z]{2,3}([_-][A-Za-z]{2})?$/, "settings.templateLanguageInvalid")],
      document_text_limit: [integerIn(0, 200000, "settings.limitInvalid")],
      ...Object.fromEntries(MEDIA_KINDS.map((kind) => [`polite_${kind}`, [politeText]])),
    });
    setProblems(found);
    if (Object.keys(found).length) return;
    setStatus({ kind: "busy" });
    // An empty polite text is left out: the service's default text answers for that kind.
    const texts = Object.fromEntries(
      MEDIA_KINDS.map((kind) => [kind, values[`polite_${kind}`].trim()]).filter(([, text]) => text),
    ) as Partial<Record<MediaKind, string>>;
    try {
      onSaved(
        await api.putMediaSettings(client, {
          transcription_model: values.transcription_model.trim(),
          language_hint: values.language_hint.trim() || null,
          vision_model: values.vision_model.trim() || null,
          text_language: values.text_language.trim(),
          document_text_limit: Number(values.document_text_limit),
          polite_texts: texts,
        }),
      );
      setStatus({ kind: "ok", text: "app.saved" });
    } catch (error) {
      setStatus({ kind: "error", text: errorText(error) });
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={t("settings.media")} className="card">
      <h2>{t("settings.media")}</h2>
      <ModelField name="transcription_model" label="settings.transcription" models={models} value={values.transcription_model} onChange={set("transcription_model")} error={problems.transcription_model} />
      <Field name="language_hint" label="settings.languageHint" value={values.language_hint} onChange={set("language_hint")} error={problems.language_hint} help={t("settings.languageHintHelp")} />
      <ModelField name="vision_model" label="settings.vision" models={models} value={values.vision_model} onChange={set("vision_model")} error={problems.vision_model} none={t("settings.noVision")} help={t("settings.visionHelp")} />
      <Field name="document_text_limit" type="number" step="1000" label="settings.documentLimit" value={values.document_text_limit} onChange={set("document_text_limit")} error={problems.document_text_limit} />
      <fieldset>
        <legend>{t("settings.polite")}</legend>
        <p className="help">{t("settings.politeHelp")}</p>
        <Field name="text_language" label="settings.textLanguage" value={values.text_language} onChange={set("text_language")} error={problems.text_language} />
        {MEDIA_KINDS.map((kind) => (
          <TextArea key={kind} rows={2} name={`polite_${kind}`} label={`settings.polite.${kind}`} value={values[`polite_${kind}`]} onChange={set(`polite_${kind}`)} error={problems[`polite_${kind}`]} />
        ))}
      </fieldset>
      <button type="submit" disabled={status.kind === "busy"}>{t("app.save")}</button>
      <StatusLine status={status} />
    </form>
  );
}

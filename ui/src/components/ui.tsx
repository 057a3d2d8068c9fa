// Small building blocks every page uses: labelled fields, status lines, copy button, tables.
import { useId, useState, type ReactNode } from "react";
import { useT, type TextKey } from "../i18n";

interface FieldProps {
  label: TextKey;
  value: string;
  onChange: (value: string) => void;
  error?: TextKey | undefined;
  help?: ReactNode;
  type?: "text" | "password" | "number" | "url" | "date";
  name: string;
  autoComplete?: string;
  step?: string;
}

export function Field({ label, value, onChange, error, help, type = "text", name, autoComplete, step }: FieldProps) {
  const t = useT();
  const id = useId();
  const described = [error ? `${id}-error` : "", help ? `${id}-help` : ""].join(" ").trim();
  return (
    <div className="field">
      <label htmlFor={id}>{t(label)}</label>
      <input
        id={id}
        name={name}
        type={type}
        value={value}
        step={step}
        autoComplete={autoComplete ?? (type === "password" ? "new-password" : "off")}
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        onChange={(event) => onChange(event.target.value)}
      />
      {help && (
        <small id={`${id}-help`} className="help">
          {help}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} className="field-error" role="alert">
          {t(error)}
        </small>
      )}
    </div>
  );
}

export function Checkbox({ label, checked, onChange, name }: { label: TextKey; checked: boolean; onChange: (v: boolean) => void; name: string }) {
  const t = useT();
  const id = useId();
  return (
    <div className="field checkbox">
      <input id={id} name={name} type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{t(label)}</label>
    </div>
  );
}

export type Status =
  | { kind: "idle" }
  | { kind: "busy" }
  | { kind: "ok"; text: TextKey }
  | { kind: "error"; text: string };

export function StatusLine({ status }: { status: Status }) {
  const t = useT();
  if (status.kind === "idle") return null;
  if (status.kind === "busy") return <p className="status" role="status">{t("app.saving")}</p>;
  if (status.kind === "ok") return <p className="status ok" role="status">{t(status.text)}</p>;
  return <p className="status error" role="alert">{status.text}</p>;
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="secondary"
      aria-label={`${t("app.copy")} : ${label}`}
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => setCopied(true), () => setCopied(false));
      }}
    >
      {copied ? t("app.copied") : t("app.copy")}
    </button>
  );
}

export function Loading() {
  const t = useT();
  return <p role="status" aria-live="polite">{t("app.loading")}</p>;
}

export function Empty() {
  const t = useT();
  return <p className="empty">{t("app.empty")}</p>;
}

/** A table that scrolls inside itself on a narrow screen, never the page. */
export function Table({ caption, head, rows }: { caption: string; head: string[]; rows: ReactNode[][] }) {
  if (rows.length === 0) return <Empty />;
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>{head.map((h) => <th key={h} scope="col">{h}</th>)}</tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>{row.map((cell, j) => <td key={j}>{cell}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function when(value: string | null | undefined, language: string): string {
  return value ? new Date(value).toLocaleString(language === "fr" ? "fr-FR" : "en-GB") : "—";
}

export interface Option {
  value: string;
  label: string;
}

/** A labelled drop-down; `testId` lets a test find it without depending on the language. */
export function Select({ label, value, onChange, options, name, error, help }: {
  label: TextKey;
  value: string;
  onChange: (value: string) => void;
  options: Option[];
  name: string;
  error?: TextKey | undefined;
  help?: ReactNode;
}) {
  const t = useT();
  const id = useId();
  const described = [error ? `${id}-error` : "", help ? `${id}-help` : ""].join(" ").trim();
  return (
    <div className="field">
      <label htmlFor={id}>{t(label)}</label>
      <select id={id} name={name} value={value} aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined} onChange={(event) => onChange(event.target.value)}>
        {options.map((option) => <option key={option.value} value={option.value}>{option.label}</option>)}
      </select>
      {help && <small id={`${id}-help`} className="help">{help}</small>}
      {error && <small id={`${id}-error`} className="field-error" role="alert">{t(error)}</small>}
    </div>
  );
}

/** A labelled multi-line text box (one item a line where the page says so). */
export function TextArea({ label, value, onChange, name, error, help, rows = 4 }: {
  label: TextKey;
  value: string;
  onChange: (value: string) => void;
  name: string;
  error?: TextKey | undefined;
  help?: ReactNode;
  rows?: number;
}) {
  const t = useT();
  const id = useId();
  const described = [error ? `${id}-error` : "", help ? `${id}-help` : ""].join(" ").trim();
  return (
    <div className="field">
      <label htmlFor={id}>{t(label)}</label>
      <textarea id={id} name={name} value={value} rows={rows} aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined} onChange={(event) => onChange(event.target.value)} />
      {help && <small id={`${id}-help`} className="help">{help}</small>}
      {error && <small id={`${id}-error`} className="field-error" role="alert">{t(error)}</small>}
    </div>
  );
}

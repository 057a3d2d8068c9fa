import { Suspense, useEffect, useMemo, useState } from "react";
import { makeClient } from "./api/client";
import { forgetToken, gatewayUrl, readToken, storedToken, storeToken, type Session as SessionData, type SessionProblem } from "./auth";
import { Loading } from "./components/ui";
import { Session } from "./context";
import { I18n, storedLanguage, storeLanguage, translator, useT, type Language, type TextKey } from "./i18n";
import { resolve, routesFor } from "./routes";

const PROBLEM_TEXT: Record<SessionProblem, TextKey> = {
  invalid: "signin.invalid",
  role: "signin.role",
  expired: "signin.expired",
};

function initialSession(): { session: SessionData | null; problem: TextKey | null } {
  const token = storedToken();
  if (!token) return { session: null, problem: null };
  const read = readToken(token);
  if (typeof read === "string") {
    forgetToken();
    return { session: null, problem: PROBLEM_TEXT[read] };
  }
  return { session: read, problem: null };
}

export function App() {
  const [language, setLanguage] = useState<Language>(storedLanguage);
  const [state, setState] = useState(initialSession);
  const t = useMemo(() => translator(language), [language]);
  useEffect(() => storeLanguage(language), [language]);

  const signOut = (problem: TextKey | null) => {
    forgetToken();
    setState({ session: null, problem });
  };

  return (
    <I18n.Provider value={{ t, language }}>
      {state.session ? (
        <Shell session={state.session} onSignOut={signOut} language={language} onLanguage={setLanguage} />
      ) : (
        <SignIn
          problem={state.problem}
          onSession={(session) => setState({ session, problem: null })}
          onProblem={(problem) => setState({ session: null, problem })}
          language={language}
          onLanguage={setLanguage}
        />
      )}
    </I18n.Provider>
  );
}

function LanguagePicker({ language, onLanguage }: { language: Language; onLanguage: (l: Language) => void }) {
  const t = useT();
  return (
    <label className="language">
      {t("app.language")}{" "}
      <select value={language} onChange={(e) => onLanguage(e.target.value as Language)}>
        <option value="fr">Français</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}

function SignIn({ problem, onSession, onProblem, language, onLanguage }: {
  problem: TextKey | null;
  onSession: (s: SessionData) => void;
  onProblem: (p: TextKey) => void;
  language: Language;
  onLanguage: (l: Language) => void;
}) {
  const t = useT();
  const [token, setToken] = useState("");
  return (
    <main className="signin">
      <LanguagePicker language={language} onLanguage={onLanguage} />
      <h1>{t("signin.title")}</h1>
      <p>{t("signin.intro")}</p>
      {problem && <p role="alert" className="status error" data-testid="signin-problem">{t(problem)}</p>}
      <form
        aria-label={t("signin.title")}
        onSubmit={(event) => {
          event.preventDefault();
          const read = readToken(token);
          if (typeof read === "string") return onProblem(PROBLEM_TEXT[read]);
          storeToken(read.token);
          window.location.hash = "#/";
          onSession(read);
        }}
      >
        <div className="field">
          <label htmlFor="token">{t("signin.token")}</label>
          <textarea id="token" name="token" rows={4} value={token} autoComplete="off" spellCheck={false} onChange={(e) => setToken(e.target.value)} />
        </div>
        <button type="submit">{t("signin.submit")}</button>
      </form>
    </main>
  );
}

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const changed = () => setHash(window.location.hash);
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

function Shell({ session, onSignOut, language, onLanguage }: {
  session: SessionData;
  onSignOut: (problem: TextKey | null) => void;
  language: Language;
  onLanguage: (l: Language) => void;
}) {
  const t = useT();
  const hash = useHash();
  const client = useMemo(() => makeClient(session.token, () => onSignOut("signin.expired")), [session.token]); // eslint-disable-line react-hooks/exhaustive-deps
  const route = resolve(hash, session.role);
  const Page = route.page;
  const who = session.role === "service_role" ? t("role.admin") : t("role.tenant", { sub: session.sub ?? "?" });
  return (
    <Session.Provider value={{ client, session, gatewayUrl: gatewayUrl(window.location) }}>
      <a className="skip" href="#main">{t("app.title")}</a>
      <header>
        <strong className="brand">{t("app.title")}</strong>
        <span className="who" data-testid="who">{t("signin.as", { who })}</span>
        <LanguagePicker language={language} onLanguage={onLanguage} />
        <button type="button" className="secondary" onClick={() => onSignOut(null)}>{t("app.signOut")}</button>
      </header>
      <nav aria-label={session.role === "service_role" ? t("app.adminSection") : t("app.tenantSection")}>
        <ul>
          {routesFor(session.role).map((r) => (
            <li key={r.path}>
              <a href={`#${r.path}`} aria-current={r.path === route.path ? "page" : undefined}>{t(r.title)}</a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">
        <Suspense fallback={<Loading />}>
          <Page key={route.path} />
        </Suspense>
      </main>
    </Session.Provider>
  );
}

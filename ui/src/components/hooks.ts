import { useCallback, useContext, useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { Session } from "../context";
import { useT } from "../i18n";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "error"; error: string }
  | { state: "ready"; data: T };

/** The API's text for a failure, or a translated one when the server did not answer. */
export function useErrorText(): (error: unknown) => string {
  const t = useT();
  return (error) => {
    if (error instanceof ApiError) {
      if (error.status === 0) return t("error.network");
      if (error.status === 403) return t("error.forbidden");
      return error.message;
    }
    return String(error);
  };
}

/** Loads once per `key` change; `reload` loads again. */
export function useLoad<T>(load: () => Promise<T>, key: string = ""): [Loaded<T>, () => void, (data: T) => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const [round, setRound] = useState(0);
  const errorText = useErrorText();
  useEffect(() => {
    let live = true;
    setLoaded({ state: "loading" });
    load().then(
      (data) => live && setLoaded({ state: "ready", data }),
      (error: unknown) => live && setLoaded({ state: "error", error: errorText(error) }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  const set = useCallback((data: T) => setLoaded({ state: "ready", data }), []);
  return [loaded, reload, set];
}

export function useClient() {
  return useContext(Session).client;
}

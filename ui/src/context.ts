import { createContext } from "react";
import type { ConfigClient } from "./api/client";
import type { Session as SessionData } from "./auth";

export const Session = createContext<{ client: ConfigClient; session: SessionData; gatewayUrl: string }>(
  null as never,
);

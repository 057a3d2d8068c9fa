// The page table: a page is a route here plus its API functions in api/endpoints.ts. Pages
// show only for the role whose API they use (a tenant's /v1/me, an administrator's routes).
import { lazy, type ComponentType } from "react";
import type { Role } from "./auth";
import type { TextKey } from "./i18n";
import { AuditPage, GroqPage, LinksPage, TestMessagePage } from "./pages/Tenant";
import { ConversationsListPage } from "./pages/Conversations";
import { GroqKeysPage } from "./pages/GroqKeys";
import { SettingsPage } from "./pages/Settings";
import { TwilioPage } from "./pages/Twilio";
import { WhatsAppPage } from "./pages/WhatsApp";

export interface Route {
  path: string;
  title: TextKey;
  role: Role;
  page: ComponentType;
}

// The administrator's pages (and the chart library) load only when an administrator opens one.
const admin = (name: "SystemPage" | "MonitoringPage" | "TimelinePage" | "AdminAuditPage") =>
  lazy(() => import("./pages/Admin").then((module) => ({ default: module[name] })));
const SystemPage = admin("SystemPage");
const MonitoringPage = admin("MonitoringPage");
const TimelinePage = admin("TimelinePage");
const AdminAuditPage = admin("AdminAuditPage");
// The usage charts load the chart library only when a usage page is opened.
const usage = (name: "UsagePage" | "AdminUsagePage") =>
  lazy(() => import("./pages/Usage").then((module) => ({ default: module[name] })));
const UsagePage = usage("UsagePage");
const AdminUsagePage = usage("AdminUsagePage");
const LimitsPage = lazy(() => import("./pages/Limits").then((module) => ({ default: module.LimitsPage })));

export const ROUTES: Route[] = [
  { path: "/whatsapp", title: "whatsapp.title", role: "authenticated", page: WhatsAppPage },
  { path: "/groq", title: "groq.title", role: "authenticated", page: GroqPage },
  { path: "/groq-keys", title: "keys.title", role: "authenticated", page: GroqKeysPage },
  { path: "/settings", title: "settings.title", role: "authenticated", page: SettingsPage },
  { path: "/conversations", title: "conv.title", role: "authenticated", page: ConversationsListPage },
  { path: "/usage", title: "usage.title", role: "authenticated", page: UsagePage },
  { path: "/test", title: "test.title", role: "authenticated", page: TestMessagePage },
  { path: "/twilio", title: "twilio.title", role: "authenticated", page: TwilioPage },
  { path: "/links", title: "links.title", role: "authenticated", page: LinksPage },
  { path: "/audit", title: "audit.title", role: "authenticated", page: AuditPage },
  { path: "/admin/system", title: "system.title", role: "service_role", page: SystemPage },
  { path: "/admin/monitoring", title: "monitor.title", role: "service_role", page: MonitoringPage },
  { path: "/admin/timeline", title: "timeline.title", role: "service_role", page: TimelinePage },
  { path: "/admin/usage", title: "adminUsage.title", role: "service_role", page: AdminUsagePage },
  { path: "/admin/limits", title: "limits.title", role: "service_role", page: LimitsPage },
  { path: "/admin/audit", title: "adminAudit.title", role: "service_role", page: AdminAuditPage },
];

export function routesFor(role: Role): Route[] {
  return ROUTES.filter((route) => route.role === role);
}

/** The route a `#/path` fragment names, or the role's first page. */
export function resolve(hash: string, role: Role): Route {
  const path = hash.replace(/^#/, "") || "/";
  const mine = routesFor(role);
  return mine.find((route) => route.path === path) ?? (mine[0] as Route);
}

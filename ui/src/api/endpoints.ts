// One function per config API route the pages use: a new page adds its function here.
import { call, callOrNull, type ConfigClient } from "./client";
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type WhatsAppIn = Schemas["WhatsAppConfigIn"];
export type WhatsAppOut = Schemas["WhatsAppConfigOut"];
export type TwilioIn = Schemas["TwilioConfigIn"];
export type TwilioOut = Schemas["TwilioConfigOut"];
export type GroqIn = Schemas["GroqConfigIn"];
export type GroqOut = Schemas["GroqConfigOut"];
export type LinksIn = Schemas["WebhookLinksIn"];
export type LinksOut = Schemas["WebhookLinksOut"];
export type AuditPage = Schemas["AuditPage"];
export type SystemSettingsOut = Schemas["SystemSettingsOut"];
export type IdentificationStats = Schemas["IdentificationStats"];
export type CoveragePage = Schemas["CoveragePage"];
export type UnassociatedPage = Schemas["UnassociatedPage"];
export type MessageTimeline = Schemas["MessageTimeline"];

export const api = {
  whatsapp: (c: ConfigClient) => callOrNull(c.GET("/v1/me/whatsapp-config")),
  putWhatsapp: (c: ConfigClient, body: WhatsAppIn) =>
    call(c.PUT("/v1/me/whatsapp-config", { body })),
  deleteWhatsapp: (c: ConfigClient) => call(c.DELETE("/v1/me/whatsapp-config")),
  twilio: (c: ConfigClient) => callOrNull(c.GET("/v1/me/twilio-config")),
  putTwilio: (c: ConfigClient, body: TwilioIn) => call(c.PUT("/v1/me/twilio-config", { body })),
  deleteTwilio: (c: ConfigClient) => call(c.DELETE("/v1/me/twilio-config")),
  groq: (c: ConfigClient) => callOrNull(c.GET("/v1/me/groq-config")),
  putGroq: (c: ConfigClient, body: GroqIn) => call(c.PUT("/v1/me/groq-config", { body })),
  deleteGroq: (c: ConfigClient) => call(c.DELETE("/v1/me/groq-config")),
  links: (c: ConfigClient) => call(c.GET("/v1/me/webhook-links")),
  putLinks: (c: ConfigClient, body: LinksIn) => call(c.PUT("/v1/me/webhook-links", { body })),
  myAudit: (c: ConfigClient) => call(c.GET("/v1/me/audit", { params: { query: { limit: 100 } } })),
  systemGroq: (c: ConfigClient) => callOrNull(c.GET("/v1/system/groq-config")),
  putSystemGroq: (c: ConfigClient, body: GroqIn) =>
    call(c.PUT("/v1/system/groq-config", { body })),
  systemSettings: (c: ConfigClient) => call(c.GET("/v1/system/settings")),
  putSystemSettings: (c: ConfigClient, fallback_enabled: boolean) =>
    call(c.PUT("/v1/system/settings", { body: { fallback_enabled } })),
  identification: (c: ConfigClient, hours: number) =>
    call(c.GET("/v1/admin/stats/identification", { params: { query: { hours } } })),
  coverage: (c: ConfigClient, groq_status?: "Configured" | "Missing") =>
    call(
      c.GET("/v1/admin/config-coverage", { params: { query: { groq_status, limit: 100 } } }),
    ),
  unassociated: (c: ConfigClient) =>
    call(c.GET("/v1/admin/messages/unassociated", { params: { query: { hours: 24, limit: 50 } } })),
  timeline: (c: ConfigClient, message_id: string) =>
    call(
      c.GET("/v1/admin/messages/{message_id}/timeline", { params: { path: { message_id } } }),
    ),
  adminAudit: (c: ConfigClient, user_id?: string) =>
    call(c.GET("/v1/admin/audit", { params: { query: { user_id, limit: 100 } } })),
};

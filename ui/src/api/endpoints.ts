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
export type GroqKeyIn = Schemas["GroqKeyIn"];
export type GroqKeyPatch = Schemas["GroqKeyPatch"];
export type GroqKeyOut = Schemas["GroqKeyOut"];
export type GroqKeyPool = Schemas["GroqKeyPoolOut"];
export type GroqPoolSettingsIn = Schemas["GroqPoolSettingsIn"];
export type ConversationSettingsIn = Schemas["ConversationSettingsIn"];
export type ConversationSettingsOut = Schemas["ConversationSettingsOut"];
export type MediaSettingsIn = Schemas["MediaSettingsIn"];
export type MediaSettingsOut = Schemas["MediaSettingsOut"];
export type ConversationsPage = Schemas["ConversationsPage"];
export type ConversationOut = Schemas["ConversationOut"];
export type OwnerState = Schemas["OwnerState"];
export type OwnerIn = Schemas["OwnerIn"];
export type UsageOut = Schemas["UsageOut"];
export type AdminUsageOut = Schemas["AdminUsageOut"];
export type LimitsIn = Schemas["LimitsIn"];
export type LimitsOut = Schemas["LimitsOut"];

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
  groqKeys: (c: ConfigClient) => call(c.GET("/v1/me/groq-keys")),
  addGroqKey: (c: ConfigClient, body: GroqKeyIn) => call(c.POST("/v1/me/groq-keys", { body })),
  patchGroqKey: (c: ConfigClient, key_id: string, body: GroqKeyPatch) =>
    call(c.PATCH("/v1/me/groq-keys/{key_id}", { params: { path: { key_id } }, body })),
  deleteGroqKey: (c: ConfigClient, key_id: string) =>
    call(c.DELETE("/v1/me/groq-keys/{key_id}", { params: { path: { key_id } } })),
  groqKeyModels: (c: ConfigClient, key_id: string) =>
    call(c.GET("/v1/me/groq-keys/{key_id}/models", { params: { path: { key_id } } })),
  putGroqPoolSettings: (c: ConfigClient, body: GroqPoolSettingsIn) =>
    call(c.PUT("/v1/me/groq-pool-settings", { body })),
  conversationSettings: (c: ConfigClient) => call(c.GET("/v1/me/conversation-settings")),
  putConversationSettings: (c: ConfigClient, body: ConversationSettingsIn) =>
    call(c.PUT("/v1/me/conversation-settings", { body })),
  mediaSettings: (c: ConfigClient) => call(c.GET("/v1/me/media-settings")),
  putMediaSettings: (c: ConfigClient, body: MediaSettingsIn) =>
    call(c.PUT("/v1/me/media-settings", { body })),
  conversations: (c: ConfigClient, offset = 0) =>
    call(c.GET("/v1/me/conversations", { params: { query: { limit: 100, offset } } })),
  putConversationOwner: (c: ConfigClient, conversation_key: string, body: OwnerIn) =>
    call(
      c.PUT("/v1/me/conversations/{conversation_key}/owner", {
        params: { path: { conversation_key } },
        body,
      }),
    ),
  putTenantOwner: (c: ConfigClient, body: OwnerIn) =>
    call(c.PUT("/v1/me/conversations/owner", { body })),
  usage: (c: ConfigClient, from: string, to: string) =>
    call(c.GET("/v1/me/usage", { params: { query: { from, to } } })),
  adminUsage: (c: ConfigClient, from: string, to: string, top: number) =>
    call(c.GET("/v1/admin/usage", { params: { query: { from, to, top } } })),
  myLimits: (c: ConfigClient) => call(c.GET("/v1/me/limits")),
  systemLimits: (c: ConfigClient) => call(c.GET("/v1/admin/limits")),
  putSystemLimits: (c: ConfigClient, body: LimitsIn) => call(c.PUT("/v1/admin/limits", { body })),
  tenantLimits: (c: ConfigClient, user_id: string) =>
    call(c.GET("/v1/admin/tenants/{user_id}/limits", { params: { path: { user_id } } })),
  putTenantLimits: (c: ConfigClient, user_id: string, body: LimitsIn) =>
    call(c.PUT("/v1/admin/tenants/{user_id}/limits", { params: { path: { user_id } }, body })),
  deleteTenantLimits: (c: ConfigClient, user_id: string) =>
    call(c.DELETE("/v1/admin/tenants/{user_id}/limits", { params: { path: { user_id } } })),
};

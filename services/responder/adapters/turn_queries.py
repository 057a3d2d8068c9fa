"""The turn store's SQL, on the responder's own tables (adapters/tables.py):
`responder_turns`, `responder_turn_messages`, and the bot rows of `customer_conversations`
(the same rows the replay writes from ResponseGenerated)."""

from sqlalchemy import text

OPEN_TURN = text(
    "SELECT turn_id, version, first_at, awaiting_media, media_deadline FROM responder_turns "
    "WHERE conversation_key = :key AND state = 'open' FOR UPDATE"
)
KNOWN = text("SELECT 1 FROM responder_turn_messages WHERE message_id = :id")
NEW_TURN = text(
    "INSERT INTO responder_turns (turn_id, conversation_key, user_id, state, version, "
    "first_at, last_at, due_at, awaiting_media, media_deadline) VALUES (:turn_id, :key, "
    ":user_id, 'open', 1, :now, :now, :due_at, :awaiting, :media_deadline)"
)
GROW_TURN = text(
    "UPDATE responder_turns SET version = version + 1, last_at = :now, due_at = :due_at, "
    "awaiting_media = awaiting_media + :awaiting, media_deadline = :media_deadline, "
    "updated_at = :now WHERE turn_id = :turn_id RETURNING version"
)
ADD_MESSAGE = text(
    "INSERT INTO responder_turn_messages (message_id, turn_id, position, event, "
    "awaiting_media, joined_at) VALUES (:id, :turn_id, :position, CAST(:event AS jsonb), "
    ":awaiting, :now)"
)
MEDIA_OF = text(
    "SELECT m.turn_id, m.awaiting_media, m.event, t.state FROM responder_turn_messages m "
    "JOIN responder_turns t ON t.turn_id = m.turn_id WHERE m.message_id = :id "
    "FOR UPDATE OF t, m"
)
RESOLVE_MESSAGE = text(
    "UPDATE responder_turn_messages SET awaiting_media = false, fallback_text = :fallback, "
    "event = CASE WHEN CAST(:text AS text) IS NULL THEN event "
    "ELSE jsonb_set(event, '{text}', to_jsonb(CAST(:text AS text))) END "
    "WHERE message_id = :id"
)
MOVE_MESSAGE = text(
    "UPDATE responder_turn_messages SET turn_id = :turn_id, position = :position "
    "WHERE message_id = :id"
)
RESOLVE_TURN = text(
    "UPDATE responder_turns SET version = version + 1, updated_at = :now, "
    "awaiting_media = greatest(awaiting_media - 1, 0) WHERE turn_id = :turn_id"
)
CLAIM = text(
    """
    UPDATE responder_turns t SET lease_until = :lease_until, leased_by = :me
    FROM (
        SELECT turn_id FROM responder_turns
        WHERE state IN ('open', 'replied') AND due_at <= :now
          AND (state = 'replied' OR awaiting_media = 0 OR media_deadline <= :now)
          AND (lease_until IS NULL OR lease_until < :now)
        ORDER BY due_at LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE t.turn_id = due.turn_id
    RETURNING t.turn_id, t.state, t.version, t.conversation_key, t.user_id, t.first_at,
              t.failures, t.failing_since, t.reply_message_id
    """
)
MESSAGES = text(
    "SELECT turn_id, event, awaiting_media, fallback_text FROM responder_turn_messages "
    "WHERE turn_id = ANY(CAST(:ids AS uuid[])) ORDER BY turn_id, position"
)
RENEW = text(
    "UPDATE responder_turns SET lease_until = :lease_until "
    "WHERE turn_id = ANY(:turn_ids) AND leased_by = :me"
)
CURRENT = text(
    "SELECT state, version, leased_by FROM responder_turns WHERE turn_id = :turn_id FOR UPDATE"
)
_INSERT_BOT_ROW = """
    INSERT INTO customer_conversations
        (message_id, user_id, phone_number, content, sender, source, channel,
         config_source, model, prompt_tokens, completion_tokens, created_at)
    VALUES (:message_id, :user_id, :phone, :content, 'bot', :source, :channel,
            :config_source, :model, :prompt_tokens, :completion_tokens, :created_at)
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
"""
SAVE_BOT_ROW = text(_INSERT_BOT_ROW)
# Issue 16: the same, with the tokens the reply spent added to the tenant's day counter,
# only if this statement stored the row.
_SAVE_BOT_ROW_COUNTED = """
    WITH saved AS ({bot_row} RETURNING message_id)
    INSERT INTO responder_limit_counters AS c (scope, bucket, count, expires_at)
    SELECT CAST(:count_scope AS text), CAST(:count_bucket AS bigint),
           CAST(:count_add AS bigint), CAST(:count_expires AS timestamptz)
    FROM saved
    ON CONFLICT (scope, bucket) DO UPDATE SET count = c.count + EXCLUDED.count
"""
SAVE_BOT_ROW_COUNTED = text(_SAVE_BOT_ROW_COUNTED.format(bot_row=_INSERT_BOT_ROW))
BOT_ROW = text(
    "SELECT content, config_source, model, prompt_tokens, completion_tokens, created_at "
    "FROM customer_conversations WHERE message_id = :message_id AND sender = 'bot'"
)
REPLIED = text(
    "UPDATE responder_turns SET state = 'replied', reply_message_id = :message_id, "
    "updated_at = :now WHERE turn_id = :turn_id"
)
FINISH = text(
    "UPDATE responder_turns SET state = :state, lease_until = NULL, updated_at = now() "
    "WHERE turn_id = :turn_id"
)
DEFER = text(
    "UPDATE responder_turns SET due_at = greatest(due_at, :until), failures = failures + 1, "
    "failing_since = :failing_since, lease_until = NULL, updated_at = now() "
    "WHERE turn_id = :turn_id AND state = 'open'"
)
LATEST_STATES = text(
    "SELECT state FROM responder_turns WHERE conversation_key = :key "
    "AND state IN ('done', 'failed') ORDER BY updated_at DESC LIMIT :limit"
)
RELEASE = text("UPDATE responder_turns SET lease_until = NULL WHERE turn_id = :turn_id")
HISTORY = """
    SELECT sender, content FROM (
        SELECT c.sender, c.content, c.created_at, c.id FROM customer_conversations c
        WHERE c.phone_number = :phone AND {tenant} AND c.created_at >= :since
          AND c.content <> '' AND NOT (c.message_id = ANY(CAST(:ids AS text[])))
        ORDER BY c.created_at DESC, c.id DESC LIMIT :limit
    ) recent ORDER BY created_at, id
"""
HISTORY_OF_TENANT = text(HISTORY.format(tenant="c.user_id = :user_id"))
HISTORY_WITHOUT_TENANT = text(HISTORY.format(tenant="c.user_id IS NULL"))

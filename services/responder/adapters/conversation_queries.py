"""The conversation store's statements (adapters/conversations.py says what each does and
why they are shaped this way): prebuilt text with `{table}` left for the store to fill in,
so the replay writes the same statements to its shadow table."""

from __future__ import annotations

from services.responder.adapters.counters import UPSERT

_INCOMING = """
    incoming AS (
        SELECT * FROM unnest(
            CAST(:message_ids AS text[]), CAST(:user_ids AS uuid[]), CAST(:phones AS text[]),
            CAST(:contents AS text[]), CAST(:sources AS text[]), CAST(:channels AS text[]),
            CAST(:created_ats AS timestamptz[])
        ) WITH ORDINALITY AS i(message_id, user_id, phone_number, content, source, channel,
                               created_at, n)
    ),
    saved AS (
        INSERT INTO {table}
            (message_id, user_id, phone_number, content, sender, source, channel, created_at)
        SELECT message_id, user_id, phone_number, content, 'user', source, channel, created_at
        FROM incoming ORDER BY message_id
        ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
        RETURNING message_id
    )"""
_FOUND = """
    SELECT i.n, 'reply' AS kind, b.content, b.config_source, b.model,
           b.prompt_tokens, b.completion_tokens, b.created_at, b.id, NULL::bigint AS bucket
    FROM incoming i
    JOIN {table} b ON b.message_id = i.message_id AND b.sender = 'bot'
    UNION ALL
    SELECT i.n, r.sender, r.content, NULL, NULL, NULL, NULL, r.created_at, r.id, NULL
    FROM incoming i CROSS JOIN LATERAL (
        (SELECT c.sender, c.content, c.created_at, c.id FROM {table} c
         WHERE c.phone_number = i.phone_number AND c.user_id = i.user_id
           AND c.message_id <> i.message_id AND c.created_at >= :since
         ORDER BY c.created_at DESC, c.id DESC LIMIT :context_limit)
        UNION ALL
        (SELECT c.sender, c.content, c.created_at, c.id FROM {table} c
         WHERE i.user_id IS NULL AND c.phone_number = i.phone_number AND c.user_id IS NULL
           AND c.message_id <> i.message_id AND c.created_at >= :since
         ORDER BY c.created_at DESC, c.id DESC LIMIT :context_limit)
    ) r"""
# Built once per store (the table name is fixed). The two context branches keep the
# (phone_number, user_id, created_at) index usable (`user_id IS NOT DISTINCT FROM` would
# not be); only one can match a message.
_ADMIT_TEMPLATE = """
    WITH {incoming}
    {found}
    ORDER BY 1, 8, 9
    """
# Issue 16: the same, counting the limits in the same statement (no read, no statement of
# its own). `fresh`: the messages whose row this statement stored (the first of a message
# id twice in a batch); each increment adds `add` for a fresh message, else `add_if_seen`
# (a redelivery: 0, it was counted when its row was stored). The rows of kind 'new' and
# 'count' say which messages were fresh and what each counter holds after the batch.
_ADMIT_COUNTED_TEMPLATE = """
    WITH {incoming},
    fresh AS (
        SELECT min(i.n) AS n FROM incoming i JOIN saved s ON s.message_id = i.message_id
        GROUP BY i.message_id
    ),
    counted AS ({upsert})
    {found}
    UNION ALL
    SELECT f.n, 'new', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM fresh f
    UNION ALL
    SELECT 0, 'count', k.scope, NULL, NULL, NULL, NULL, NULL, k.count, k.bucket FROM counted k
    ORDER BY 1, 8, 9
    """
_ADMIT_INCREMENTS = """
        SELECT k.scope, k.bucket, CASE WHEN f.n IS NULL THEN k.seen_add ELSE k.add END AS add,
               k.expires_at
        FROM unnest(
            CAST(:count_owners AS bigint[]), CAST(:count_scopes AS text[]),
            CAST(:count_buckets AS bigint[]), CAST(:count_adds AS bigint[]),
            CAST(:count_seen_adds AS bigint[]), CAST(:count_expires AS timestamptz[])
        ) AS k(n, scope, bucket, add, seen_add, expires_at)
        LEFT JOIN fresh f ON f.n = k.n"""
# The table name stays a placeholder: each store fills it in (`{table}` in the parts is
# inserted as is).
ADMIT = _ADMIT_TEMPLATE.format(incoming=_INCOMING, found=_FOUND)
ADMIT_COUNTED = _ADMIT_COUNTED_TEMPLATE.format(
    incoming=_INCOMING, found=_FOUND, upsert=UPSERT.format(increments=_ADMIT_INCREMENTS)
)
_REPLIES = """
    INSERT INTO {table}
        (message_id, user_id, phone_number, content, sender, source, channel,
         config_source, model, prompt_tokens, completion_tokens, created_at)
    SELECT message_id, user_id, phone_number, content, 'bot', source, channel,
           config_source, model, prompt_tokens, completion_tokens, created_at
    FROM unnest(
        CAST(:message_ids AS text[]), CAST(:user_ids AS uuid[]), CAST(:phones AS text[]),
        CAST(:contents AS text[]), CAST(:sources AS text[]), CAST(:channels AS text[]),
        CAST(:config_sources AS text[]), CAST(:models AS text[]),
        CAST(:prompt_tokens AS integer[]), CAST(:completion_tokens AS integer[]),
        CAST(:created_ats AS timestamptz[])
    ) AS r(message_id, user_id, phone_number, content, source, channel,
           config_source, model, prompt_tokens, completion_tokens, created_at)
    ORDER BY message_id
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender DO NOTHING
    RETURNING message_id
    """
SAVE_REPLIES = _REPLIES
# Issue 16: the tokens a reply spent, counted with its row, only if this statement stored
# it (a redelivery racing stores nothing and counts nothing).
_SAVE_REPLIES_COUNTED_TEMPLATE = """
    WITH saved AS ({replies}),
    counted AS ({upsert})
    SELECT message_id FROM saved
    """
_REPLY_INCREMENTS = """
        SELECT k.scope, k.bucket, k.add, k.expires_at
        FROM unnest(
            CAST(:count_owners AS text[]), CAST(:count_scopes AS text[]),
            CAST(:count_buckets AS bigint[]), CAST(:count_adds AS bigint[]),
            CAST(:count_seen_adds AS bigint[]), CAST(:count_expires AS timestamptz[])
        ) AS k(message_id, scope, bucket, add, seen_add, expires_at)
        JOIN saved s ON s.message_id = k.message_id"""
SAVE_REPLIES_COUNTED = _SAVE_REPLIES_COUNTED_TEMPLATE.format(
    replies=_REPLIES, upsert=UPSERT.format(increments=_REPLY_INCREMENTS)
)
# From MediaResolved: the same row `admit` writes, with the transcript; an existing row keeps
# a non-empty content (admit and this may run in either order, live or in a replay).
TRANSCRIBE = """
    INSERT INTO {table} AS c
        (message_id, user_id, phone_number, content, sender, source, channel, created_at)
    VALUES (:message_id, :user_id, :phone, :content, 'user', :source, :channel, :created_at)
    ON CONFLICT ON CONSTRAINT uq_customer_conversations_message_sender
    DO UPDATE SET content = EXCLUDED.content WHERE c.content = ''
    """
STORED_REPLIES = """
    SELECT message_id, content, config_source, model, prompt_tokens, completion_tokens,
           created_at
    FROM {table}
    WHERE sender = 'bot' AND message_id = ANY(CAST(:message_ids AS text[]))
    """

"""The one place that names Groq models: the default chat model, and which models take
Structured Outputs.

`llama3-70b-8192` (the seed's default) is decommissioned and `llama-3.3-70b-versatile` /
`llama-3.1-8b-instant` are reported shut down since 2026-08-16 (issue 16). Check
console.groq.com/docs/deprecations before changing it.
Code and docs refer to these constants instead of repeating a model name.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

DEFAULT_CHAT_MODEL: Final = "openai/gpt-oss-120b"

# Models that accept `response_format: {"type": "json_schema", ...}`, and whether they take
# `strict: true` (constrained decoding: the answer always matches the schema) or only the
# best-effort mode. From console.groq.com/docs/structured-outputs#supported-models (read
# 2026-12); Groq answers 400 to a json_schema request on any other model, so a model not
# listed here is asked for plain text.
STRUCTURED_OUTPUT_MODELS: Final[Mapping[str, bool]] = MappingProxyType(
    {
        "openai/gpt-oss-20b": True,
        "openai/gpt-oss-120b": True,
        "moonshotai/kimi-k2-instruct": False,
        "moonshotai/kimi-k2-instruct-0905": False,
        "meta-llama/llama-4-maverick-17b-128e-instruct": False,
        "meta-llama/llama-4-scout-17b-16e-instruct": False,
    }
)


def json_schema_format(model: str, name: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `response_format` asking `model` for JSON matching `schema`; None when the model
    does not support Structured Outputs."""
    strict = STRUCTURED_OUTPUT_MODELS.get(model)
    if strict is None:
        return None
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": strict, "schema": dict(schema)},
    }
